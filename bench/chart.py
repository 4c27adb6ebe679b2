"""What the dashboard's "Activity over time" chart costs: its query and the dashboard page, per database and size.

    .venv/bin/python -m bench.chart [--db sqlite|postgresql|both] [--sizes 100000,1000000] [--repeat 20]
                                    [--zone Europe/Berlin] [--data-dir bench/.data] [--json FILE]

On the cached benchmark databases (bench/datasets.py; seeded if missing) it measures, medians and p95 of --repeat
timed runs after one untimed run:

* ``daily_counts`` for 30 days, all models and model=item, counting every day (what a page load costs when the
  cache of past days is cold or turned off, DASHBOARD_CHART_TTL=0), and its very first call in the process
  (statement built and compiled);
* ``daily_counts`` with a warm cache: only today is counted (every other page load while the cache lasts);
* ``daily_counts`` past the TTL with a recount runner: what a request costs while the dashboard's thread counts
  the expired past days again, and that recount on its own;
* GET /admin/ through the in-process test client as the bench admin, with the default TTL (warm cache) and with
  DASHBOARD_CHART_TTL=0 (the whole chart counted on every load).

Run it before and after a change to compare (docs/PERFORMANCE.md, "Dashboard chart"); --pages-only measures the
dashboard page alone (on a copy of the code from before the chart, say).
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from bench import datasets
from bench.measure import log, measure
from bench.server import test_client_login

DAYS = 30


def run(db_name: str, items: int, args: argparse.Namespace) -> dict[str, Any]:
    from admin_app import create_app
    from admin_app.extensions import db
    from flask_activity import activity
    from flask_activity.types import utcnow

    ds = datasets.ensure(db_name, items, args.data_dir, log=log)
    datasets.prepare(ds, args.data_dir)
    zone = ZoneInfo(args.zone)
    out: dict[str, Any] = {"db": db_name, "items": items, "zone": args.zone}
    app = create_app(datasets.app_config(ds.url, args.data_dir, APP_TIMEZONE=args.zone))
    with app.app_context():
        client = test_client_login(app)

        def dashboard() -> None:
            _ok(client.get("/admin/"))

        if not args.pages_only:
            now = utcnow()
            started = time.perf_counter()  # first: the statement is built and compiled once per process
            counts = activity.daily_counts(DAYS, zone, now)
            out["first_call_ms"] = round((time.perf_counter() - started) * 1000, 2)
            out["events_in_window"] = sum(counts.totals().values())
            out["events_today"] = counts.days[-1].total
            out["uncached_all"] = measure(lambda: activity.daily_counts(DAYS, zone, now), args.repeat, 60)
            out["uncached_item"] = measure(lambda: activity.daily_counts(DAYS, zone, now, ["item"]), args.repeat, 60)
            cache = activity.DayCountCache()
            out["cached_all"] = measure(lambda: activity.daily_counts(DAYS, zone, now, cache=cache, ttl=3600),
                                        args.repeat, 60)  # its untimed first run fills the cache
            # Past the TTL with a recount runner (the dashboard's thread): the request serves the expired counts;
            # the first call hands one recount job over, which is then timed on its own.
            later, jobs = now + timedelta(seconds=3601), cast("list[Callable[[], None]]", [])
            out["expired_served"] = measure(
                lambda: activity.daily_counts(DAYS, zone, later, cache=cache, ttl=3600, recount=jobs.append),
                args.repeat, 60)
            started = time.perf_counter()
            jobs[0]()
            out["expired_recount_ms"] = round((time.perf_counter() - started) * 1000, 2)
            db.session.remove()
            ttl, app.config["DASHBOARD_CHART_TTL"] = app.config["DASHBOARD_CHART_TTL"], 0
            out["page_dashboard_ttl_0"] = measure(dashboard, args.repeat, 60)
            app.config["DASHBOARD_CHART_TTL"] = ttl
        out["page_dashboard_ttl_default"] = measure(dashboard, args.repeat, 60)
        db.session.remove()
        db.engine.dispose()
    return out


def _ok(response: Any) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"GET /admin/: HTTP {response.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sizes", default="100000,1000000", help="items, comma-separated (default 100000,1000000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per figure (default 20)")
    parser.add_argument("--zone", default="Europe/Berlin", help="IANA zone of the days (default Europe/Berlin)")
    parser.add_argument("--data-dir", type=Path, default=datasets.DEFAULT_DATA_DIR)
    parser.add_argument("--pages-only", action="store_true",
                        help="only GET /admin/ (e.g. on a copy of the code from before the chart)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    runs = []
    for name in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        if name == "postgresql" and (problem := datasets.pg_unreachable()):
            log(f"postgresql skipped: {problem}")
            continue
        for items in (int(s) for s in args.sizes.split(",")):
            r = run(name, items, args)
            runs.append(r)
            if args.pages_only:
                log(f"== {name}, {items:,} items ==")
                page = r["page_dashboard_ttl_default"]
                log(f"  {'GET /admin/':<42}{page['median_ms']:9.2f} ms  (p95 {page['p95_ms']:.2f}, n {page['n']})")
                continue
            log(f"== {name}, {items:,} items: {r['events_in_window']:,} events in {DAYS} days, "
                f"{r['events_today']:,} today ({args.zone}) ==")
            log(f"  daily_counts, first call in the process   {r['first_call_ms']:9.2f} ms")
            log(f"  the expired chart's recount (a thread's)   {r['expired_recount_ms']:9.2f} ms")
            for key, text in (("uncached_all", "daily_counts, all models, no cache"),
                              ("uncached_item", "daily_counts, model=item, no cache"),
                              ("cached_all", "daily_counts, all models, warm cache"),
                              ("expired_served", "daily_counts, expired, served (recount runs)"),
                              ("page_dashboard_ttl_default", "GET /admin/, warm cache"),
                              ("page_dashboard_ttl_0", "GET /admin/, DASHBOARD_CHART_TTL=0")):
                log(f"  {text:<42}{r[key]['median_ms']:9.2f} ms  (p95 {r[key]['p95_ms']:.2f}, n {r[key]['n']})")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs}, indent=2))


if __name__ == "__main__":
    main()
