"""SQL injection scan: sqlmap against every query parameter of the feed, list, export and JSON endpoints.

For each database it seeds (or reuses, see bench/datasets.py) a small database, starts the app under gunicorn on
127.0.0.1 exactly as the benchmark suite does, logs in as the benchmark admin (so every request reaches the query
layer, not the login redirect) and runs sqlmap once per (endpoint, parameter), each with a valid baseline value
and a time limit. A parameter is "not injectable" only when sqlmap finished and said so; a time-out or an error is
reported as inconclusive, never as clean. The server's log is checked for tracebacks (a 500 under attack is a
finding too).

    .venv/bin/python -m bench.sqlmap_scan                     # both databases, level 2, risk 1, BEUST
    .venv/bin/python -m bench.sqlmap_scan --db sqlite --quick   # one parameter, boolean technique: the smoke test

Figures and the latest run are in docs/SECURITY.md.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import ROOT, datasets
from bench.server import BenchServer

ITEMS = 2000
VERDICTS = {
    "injectable": re.compile(r"is vulnerable|sqlmap identified the following injection point"),
    "not injectable": re.compile(r"do(es)? not (seem|appear) to be injectable"),
}


def targets(ds: datasets.Dataset, data_dir: Path) -> list[tuple[str, dict[str, str], list[str]]]:
    """(path, baseline query, parameters to test): valid values taken from the seeded rows and the admin views."""
    from sqlalchemy import select

    from admin_app import create_app
    from admin_app.extensions import db
    from admin_app.models import Item, User
    from flask_activity import activity

    app = create_app(datasets.app_config(ds.url, data_dir))
    with app.app_context():
        actor = db.session.scalar(select(User.id).order_by(User.id).limit(1))
        item = db.session.scalar(select(Item.id).order_by(Item.id).limit(1))
        page = activity.fetch_page(activity.ActivityFilter(), limit=5)
        cursor = activity.encode_cursor(page.next_cursor) if page.next_cursor else ""
        view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", "") == "items")
        view._refresh_filters_cache()
        filters = {f"flt0_{view.get_filter_arg(i, f)}": sample for i, f in enumerate(view._filters)
                   if (sample := _filter_sample(f)) is not None}
    feed = {"since": "2020-01-01T00:00:00+00:00", "until": "2030-01-01T00:00:00+00:00", "model": "item",
            "action": "created", "actor": str(actor), "limit": "10"}
    first_filters = dict(list(filters.items())[:3])
    return [
        ("/admin/activity/feed.json", {**feed, "cursor": cursor}, [*feed, "cursor"]),
        ("/admin/activity/", feed, list(feed)),
        ("/admin/activity/export.csv", {k: v for k, v in feed.items() if k != "limit"},
         [k for k in feed if k != "limit"]),
        ("/admin/items/", {"search": "item", "sort": "1", "desc": "1", "page": "0", "page_size": "20",
                           **first_filters}, ["search", "sort", "desc", "page", "page_size", *first_filters]),
        ("/admin/items/details/", {"id": str(item)}, ["id"]),
        ("/admin/items/export/csv/", {"search": "item", "sort": "1"}, ["search", "sort"]),
        ("/admin/items/ajax/lookup/", {"name": "bucketlist", "query": "a", "offset": "0", "limit": "10"},
         ["name", "query", "offset", "limit"]),
    ]


def _filter_sample(flt: Any) -> str | None:
    """A value the filter accepts, by its kind (Flask-Admin's filter classes)."""
    kind = type(flt).__name__.lower()
    if "between" in kind:
        return "2020-01-01 00:00:00 to 2030-01-01 00:00:00" if "datetime" in kind else None
    if "datetime" in kind:
        return "2026-01-01 00:00:00"
    if "boolean" in kind:
        return "1"
    if "int" in kind or "float" in kind:
        return "1"
    if "empty" in kind:
        return "0"
    return "item"


def run_sqlmap(url: str, param: str, cookie: str, dbms: str, args: argparse.Namespace,
               work: Path) -> dict[str, Any]:
    cmd = ["sqlmap", "-u", url, "-p", param, "--cookie", cookie, "--dbms", dbms, "--batch", "--flush-session",
           "--disable-coloring", "--level", str(args.level), "--risk", str(args.risk), "--technique", args.technique,
           "--timeout", "15", "--retries", "1", "--output-dir", str(work / "sqlmap"),
           "--user-agent", "sqlmap-scan (bench/sqlmap_scan.py)"]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.param_timeout)
        out = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {"verdict": f"inconclusive: no verdict within {args.param_timeout} s", "seconds": args.param_timeout,
                "tests": _tests(out)}
    verdict = next((v for v, pattern in VERDICTS.items() if pattern.search(out)), None)
    if verdict is None:
        tail = [line for line in out.splitlines() if "[CRITICAL]" in line or "[ERROR]" in line][-1:]
        verdict = "inconclusive: " + (tail[0][:200] if tail else f"sqlmap exited {proc.returncode} without a verdict")
    return {"verdict": verdict, "seconds": round(time.monotonic() - started, 1), "tests": _tests(out),
            "log_tail": [line for line in out.splitlines() if "] [" in line][-6:]}


def _tests(out: str) -> int:
    """How many injection tests (payload families such as 'AND boolean-based blind') sqlmap ran."""
    return len(re.findall(r"\[INFO\] testing '", out))


def scan(db: str, args: argparse.Namespace) -> dict[str, Any]:
    ds = datasets.ensure(db, ITEMS, args.data_dir, log=print)
    datasets.prepare(ds, args.data_dir)
    chosen = targets(ds, args.data_dir)
    if args.quick:
        chosen = [("/admin/activity/feed.json", chosen[0][1], ["actor"])]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sqlmap-scan-") as tmp:
        work = Path(tmp)
        server = BenchServer(ds, args.data_dir, work)
        try:
            base = f"http://127.0.0.1:{server.port}"
            for path, query, params in chosen:
                status = server.request("GET", f"{path}?{urlencode(query)}")[0]
                for param in params:
                    r = run_sqlmap(f"{base}{path}?{urlencode(query)}", param, server.cookie,
                                   "SQLite" if db == "sqlite" else "PostgreSQL", args, work)
                    results.append({"path": path, "param": param, "baseline_status": status, **r})
                    print(f"  {db:10} {path:28} {param:24} {r['verdict']} ({r['seconds']} s, "
                          f"{r['tests']} tests)", flush=True)
            log = server.log_counts()
        finally:
            server.stop()
    return {"db": db, "targets": results, "server": log}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--level", type=int, default=2, help="sqlmap --level (1-5)")
    parser.add_argument("--risk", type=int, default=1, help="sqlmap --risk (1-3; 1 never writes to the database)")
    parser.add_argument("--technique", default="BEUST", help="sqlmap --technique letters")
    parser.add_argument("--param-timeout", type=int, default=300, help="seconds per parameter before inconclusive")
    parser.add_argument("--quick", action="store_true", help="one parameter, boolean-based only, level 1")
    parser.add_argument("--data-dir", type=Path, default=datasets.DEFAULT_DATA_DIR)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "sqlmap.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.level, args.risk, args.technique, args.param_timeout = 1, 1, "B", 120
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("sqlmap") is None:
        print("error: sqlmap is not installed (apt-get install -y sqlmap)", file=sys.stderr)
        return 2
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in dbs and (problem := datasets.pg_unreachable()):
        print(f"error: PostgreSQL is not reachable: {problem}", file=sys.stderr)
        return 2
    started = time.monotonic()
    runs = [scan(db, args) for db in dbs]
    verdicts = [t["verdict"] for run in runs for t in run["targets"]]
    summary = {"parameters": len(verdicts), "not_injectable": verdicts.count("not injectable"),
               "injectable": verdicts.count("injectable"),
               "inconclusive": sum(v.startswith("inconclusive") for v in verdicts),
               "server_tracebacks": sum(run["server"]["tracebacks"] for run in runs)}
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
              "sqlmap": (subprocess.run(["sqlmap", "--version"], capture_output=True, text=True).stdout.strip()
                         .splitlines() or [""])[0],
              "level": args.level, "risk": args.risk, "technique": args.technique,
              "seconds": round(time.monotonic() - started, 1), "summary": summary, "runs": runs}
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{summary['parameters']} parameters: {summary['not_injectable']} not injectable, "
          f"{summary['injectable']} injectable, {summary['inconclusive']} inconclusive; server tracebacks: "
          f"{summary['server_tracebacks']} ({result['seconds']} s); wrote {args.json}")
    return 1 if summary["injectable"] or summary["server_tracebacks"] else 0


if __name__ == "__main__":
    sys.exit(main())
