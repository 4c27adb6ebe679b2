"""The benchmark suite (issue 5): feed, paging, filters, admin pages, CSV and load, per database and size.

One command (`make bench` runs it with the defaults):

    .venv/bin/python -m bench.suite [--sizes 100000,1000000,5000000] [--db sqlite|postgresql|both]
                                     [--repeat 30] [--naive-repeat 3] [--load-seconds 20]
                                     [--max-peer-rows 2000000] [--reseed] [--json bench/results.json] [--quick]

For each database and size (items; 1,000 users and 6 months of history, `seed_demo`, cached in bench/.data/ or
in PostgreSQL database `admin_app_bench_<N>`, see bench/datasets.py) it measures, side by side in one run:

1. feed: the first page of 50 (all models) through `activity.fetch_page`, through `feed.json` with the in-process
   test client (logged-in admin) and through a real WSGI server (gunicorn, 2 workers) on 127.0.0.1; peer: the
   naive approach (pandas.read_sql of every row of the three tables, melt into events, sort, take 50), run
   --naive-repeat times in a child process.
2. paging: page 200 by keyset (next_cursor followed 199 times first) against page 1, and against OFFSET paging
   (one SQL UNION ALL of every event, ORDER BY at DESC LIMIT 50 OFFSET 9950).
3. filtered feeds through `fetch_page` and `feed.json`: one actor (the user with the median number of created
   items), one model (item), one action (deleted), and a 1-day window at the oldest end of the item history
   (the seed spans 6 months and items its last 4, so the window is the first whole UTC day after the oldest item).
4. pages through the test client: the dashboard /admin/, /admin/activity/ and each model list page.
5. csv, each in its own child process (peak RSS from /usr/bin/time %M): GET /admin/activity/export.csv (whole
   history, through the app's WSGI callable) and `manage.py report run activity` for the whole history; peers:
   `sqlite3 -csv` on the same UNION ALL query (SQLite; on PostgreSQL the analogue is `psql` COPY .. TO STDOUT),
   one-shot `pandas.read_sql` + `to_csv` of that query, and Flask-Admin's stock `can_export` CSV of the items
   table (a throwaway app with `flask_admin.contrib.sqla.ModelView(Item, db.session)`). Peers whose row count
   exceeds --max-peer-rows are skipped and the table says so.
6. load: gunicorn (2 workers, gthread, 4 threads each) serving /admin/ and feed.json with a logged-in session
   cookie to `wrk --latency` for --load-seconds each; then the same while a writer process updates random items
   (5 per transaction, 10 ms apart, among the first 1,000 items so repeated runs do not drift the cached data)
   through the app's ORM; "database is locked" counted in the writer and in the server log.
7. growth: every median at the largest size divided by the same median at the smallest size.

Times are medians and p95 (nearest rank) of --repeat runs after one untimed warm-up; a figure whose first run
says --repeat runs would take longer than --budget seconds is run fewer times (at least 3; the table shows n).
Every target of issue 5 is printed next to its figure with met/missed (the issue sets them at 5M items; they are
checked at every size). Everything goes to --json with the machine (cores, memory, versions).

Modules: bench/measure.py (timing, child processes), bench/server.py (the live server, logged in), bench/peers.py
and bench/children.py (what runs beside the app), bench/sections/ (one module per section), bench/report.py
(targets and tables).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ROOT, children, datasets
from bench.measure import child_json, log, machine_info, run_measured
from bench.report import TARGETS, growth, print_run, print_table, targets_summary
from bench.sections.csv_export import csv_section
from bench.sections.inprocess import inprocess
from bench.sections.load import load_section


def bench_one(db: str, items: int, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    log(f"\n-- {db}, {items:,} items --")
    ds = datasets.ensure(db, items, args.data_dir, args.reseed, log=log)
    run: dict[str, Any] = {"db": db, "items": items, "url": ds.url, "seed": ds.seed, "errors": []}
    run["prepare"] = datasets.prepare(ds, args.data_dir)
    t0 = time.perf_counter()
    run.update(inprocess(ds, args.data_dir, args))
    log(f"  in-process figures: {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    if "naive" in args.section_list:
        r = run_measured(children.command("naive-feed", ds.url, str(args.data_dir), str(args.naive_repeat)),
                         datasets.app_env(ds.url, args.data_dir))
        try:
            run["feed"]["naive_pandas"] = {**child_json(r), "peak_rss_mb": r["peak_rss_mb"]}
        except RuntimeError as exc:
            run["feed"]["naive_pandas"] = {"failed": str(exc)}
            run["errors"].append(f"naive feed: {exc}")
        log(f"  naive pandas feed: {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        work = Path(tmp)
        for section, fn in (("csv", lambda: csv_section(ds, args.data_dir, run["events"], run["params"], args, work)),
                            ("load", lambda: load_section(ds, args.data_dir, args, work))):
            if section not in args.section_list:
                continue
            t0 = time.perf_counter()
            try:
                run[section] = fn()
            except Exception as exc:  # noqa: BLE001 - any failure is reported and the next section runs
                run["errors"].append(f"{section}: {type(exc).__name__}: {exc}")
            log(f"  {section}: {time.perf_counter() - t0:.1f} s")
    if "load" in run:
        run["feed"]["feed_json_server"] = run["load"]["feed_json_server"]
    run["targets"] = targets_summary(run)
    run["seconds"] = round(time.perf_counter() - started, 1)
    return run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000", help="items per database, comma-separated")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per figure")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds one figure may take; slower figures run fewer times (at least 3)")
    parser.add_argument("--naive-repeat", type=int, default=3, help="runs of the naive pandas feed")
    parser.add_argument("--load-seconds", type=int, default=20, help="wrk duration per endpoint and phase")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--max-peer-rows", type=int, default=2_000_000,
                        help="skip the one-shot pandas and Flask-Admin CSV peers above this many rows")
    parser.add_argument("--data-dir", type=Path, default=datasets.DEFAULT_DATA_DIR)
    parser.add_argument("--reseed", action="store_true", help="seed again even when a cached database exists")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--sections", default="naive,csv,load",
                        help="besides the in-process figures (always measured): naive, csv, load (comma-separated)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny run for the smoke test: sizes 2000, repeat 3, load 2 s, naive once")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat, args.load_seconds, args.naive_repeat, args.budget = "2000", 3, 2, 1, 5.0
    args.size_list = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.section_list = [s.strip() for s in args.sections.split(",") if s.strip()]
    if unknown := set(args.section_list) - {"naive", "csv", "load"}:
        parser.error(f"unknown section {sorted(unknown)[0]!r} (sections: naive, csv, load)")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = time.perf_counter()
    machine = machine_info()
    log(f"machine: {machine['cores']} cores ({machine['cpu']}), {machine['mem_total_gib']} GiB; "
        f"Python {machine['versions']['python']}, SQLite {machine['versions']['sqlite_library']}, "
        f"{machine['versions'].get('psql') or 'no psql'}")
    dbs = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    skipped = []
    runs = []
    for db in dbs:
        if db == "postgresql":
            problem = datasets.pg_unreachable()
            if problem:
                msg = f"PostgreSQL skipped: not reachable at {datasets.PG_ADMIN_URL} ({problem})"
                log(msg)
                skipped.append(msg)
                continue
        for items in args.size_list:
            run = bench_one(db, items, args)
            runs.append(run)
            print_run(run)
            log(f"  ({run['seconds']:.0f} s for this database and size)")
    g = growth(runs)
    if g:
        log("\n== growth: largest size / smallest size (medians; rows/s and MB as measured) ==")
        print_table(("db", "figure", "small", "large", "ratio", "target"),
                    [(r["db"], r["figure"], f"{r['small']:,.2f}", f"{r['large']:,.2f}", f"{r['ratio']:.2f}x",
                      r.get("target", "")) for r in g])
    missed = [(r["db"], r["items"], t["target"], t["value"]) for r in runs for t in r["targets"]
              if t["status"] == "MISSED"]
    missed += [(r["db"], "growth", r["figure"], r["ratio"]) for r in g if "MISSED" in r.get("target", "")]
    if missed:
        log("\n== targets missed ==")
        for m in missed:
            log(f"  {m[0]} {m[1] if isinstance(m[1], str) else f'{m[1]:,}'}: {m[2]} = {m[3]}")
    total = time.perf_counter() - started
    result = {"command": " ".join([Path(sys.executable).name, "-m", "bench.suite", *argv]),
              "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "started": datetime.now(UTC).isoformat(), "seconds": round(total, 1), "machine": machine,
              "skipped": skipped, "runs": runs, "growth": g,
              "targets": TARGETS}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    log(f"\nwrote {args.json} ({total:.0f} s in all)")
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
