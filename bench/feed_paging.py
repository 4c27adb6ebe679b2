"""Keyset paging of the activity feed: first page vs a page deep in the history, side by side.

Usage (against any database made with `manage.py seed-demo`):

    DATABASE_URL=... .venv/bin/python -m bench.feed_paging [--depth 200] [--repeat 30]

Prints medians and the ratio deep/first measured in one run; figures go in docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

from sqlalchemy import func, select

from admin_app import create_app
from admin_app.extensions import db
from admin_app.models import Item
from flask_activity.activity import ActivityFilter, fetch_page


def median_ms(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=200, help="page number to compare with the first")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        items = db.session.scalar(select(func.count()).select_from(Item))
        rows = []
        for label, flt in [("all models", ActivityFilter()), ("items only", ActivityFilter(models=("item",))),
                           ("items updated", ActivityFilter(models=("item",), actions=("updated",)))]:
            fetch_page(flt)  # warm caches
            first = median_ms(lambda flt=flt: fetch_page(flt), args.repeat)
            cursor = None
            for _ in range(args.depth - 1):
                cursor = fetch_page(flt, 50, cursor).next_cursor
            deep = median_ms(lambda flt=flt, cursor=cursor: fetch_page(flt, 50, cursor), args.repeat)
            rows.append(dict(feed=label, first_median_ms=round(first[0], 2), first_p95_ms=round(first[1], 2),
                             deep_median_ms=round(deep[0], 2), deep_p95_ms=round(deep[1], 2),
                             ratio=round(deep[0] / first[0], 2)))
        print(f"database: {db.engine.dialect.name}, items: {items:,}, machine: {os.cpu_count()} cores, "
              f"{platform.python_implementation()} {platform.python_version()}")
        print(f"{'feed':<15} {'page 1 median':>14} {'p95':>8} {f'page {args.depth} median':>16} {'p95':>8} "
              f"{'ratio':>6}")
        for r in rows:
            print(f"{r['feed']:<15} {r['first_median_ms']:>11.2f} ms {r['first_p95_ms']:>5.2f} ms "
                  f"{r['deep_median_ms']:>13.2f} ms {r['deep_p95_ms']:>5.2f} ms {r['ratio']:>6.2f}")
        print(json.dumps({"database": db.engine.dialect.name, "items": items, "depth": args.depth, "rows": rows}))


if __name__ == "__main__":
    main()
