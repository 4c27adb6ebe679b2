"""The `activity` report over a whole history: streamed runner against a naive one-shot pandas export.

Each variant runs in its own process (so peak RSS is its own), side by side in one run:

* runner: `flask_activity.reporting.runner.run_report` (one snapshot, keyset chunks, pandas per chunk, atomic file);
* naive:  one `pandas.read_sql` of every event, sort, one `to_csv` (what a quick script would do).

Usage:
    .venv/bin/python -m bench.report_memory DATABASE_URL [DATABASE_URL ...] [--json out.json]

Seed the databases first, e.g. `INSTANCE_DIR=/tmp/b100k manage.py init-db && ... seed-demo --items 100000`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC
from pathlib import Path
from typing import Any

from bench import ROOT


def child(variant: str, url: str, out_dir: str) -> dict[str, Any]:
    """Run one variant in this (fresh) process and return its figures."""
    import resource
    import time
    from datetime import datetime, timedelta

    from admin_app import create_app
    from admin_app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "APP_ENV": "testing",
                      "REPORTS_DIR": out_dir, "REPORT_CHUNK_SIZE": 10_000})
    since = datetime(1970, 1, 1, tzinfo=UTC)
    until = datetime.now(UTC) + timedelta(days=1)
    with app.app_context():
        start = time.perf_counter()
        if variant == "runner":
            from flask_activity.reporting import runner
            from flask_activity.reporting.registry import get_report

            run = runner.run_report(get_report("activity"), since, until)
            rows, size = run.rows or 0, run.bytes or 0
        else:
            import pandas as pd
            from sqlalchemy import select, union_all
            from sqlalchemy.orm import aliased

            from admin_app.models import User
            from flask_activity import activity
            from flask_activity.activity.events import branches
            from flask_activity.activity.statements import branch_select

            flt = activity.ActivityFilter(since=since, until=until)
            parts = [select(branch_select(n, c, a, flt, None, None).subquery())
                     for n, c, a in branches(flt)]
            merged = union_all(*parts).subquery()
            actor = aliased(User)
            stmt = select(merged, actor.email).outerjoin(actor, actor.id == merged.c.actor_id)
            with db.engine.connect() as conn:
                frame = pd.read_sql(stmt, conn)
            frame = frame.sort_values(["at", "model", "id"], ascending=False)
            path = Path(out_dir) / "naive.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(path, index=False)
            rows, size = len(frame), path.stat().st_size
        seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"variant": variant, "rows": rows, "bytes": size, "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds), "peak_rss_mb": round(peak_kb / 1024, 1)}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+", help="SQLAlchemy URLs of seeded databases")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    results = []
    for url in args.urls:
        pair = {}
        for variant in ("runner", "naive"):
            with tempfile.TemporaryDirectory() as out:
                proc = subprocess.run([sys.executable, "-m", "bench.report_memory", "--child", variant, url, out],
                                      capture_output=True, text=True, cwd=ROOT, check=True)
                pair[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append({"database": url.split(":")[0].split("+")[0], "url": url, **pair,
                        "rss_ratio_naive_to_runner":
                            round(pair["naive"]["peak_rss_mb"] / pair["runner"]["peak_rss_mb"], 2),
                        "speed_ratio_runner_to_naive":
                            round(pair["runner"]["rows_per_s"] / pair["naive"]["rows_per_s"], 2)})
    print(f"{'database':<11} {'events':>10} {'variant':<7} {'seconds':>8} {'rows/s':>9} {'peak RSS':>10}")
    for r in results:
        for v in ("runner", "naive"):
            x = r[v]
            print(f"{r['database']:<11} {x['rows']:>10,} {v:<7} {x['seconds']:>8.2f} {x['rows_per_s']:>9,} "
                  f"{x['peak_rss_mb']:>7.1f} MB")
        print(f"{'':<11} {'':>10} naive peak RSS / runner: {r['rss_ratio_naive_to_runner']}x; "
              f"runner speed / naive: {r['speed_ratio_runner_to_naive']}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
