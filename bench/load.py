"""Mixed load on a real server: logged-in admins reading and editing while the scheduler runs a report every minute.

For each database: a seeded database (bench/datasets.py), gunicorn with 2 workers on 127.0.0.1 (as the benchmark
suite starts it), the report scheduler in its own process with one extra report scheduled every minute (a module
named in REPORT_MODULES), and CLIENTS threads, each logged in with its own session, sending requests back to back
for the given time: 90% reads (dashboard, activity page, feed.json, a filtered CSV export) and 10% writes (an
item's edit form fetched and posted with its CSRF token, through Flask-Admin). It prints and writes (JSON): requests
and their status per kind, p50/p95/p99, 5xx count, "database is locked" in any log, tracebacks, the report runs
the scheduler made and their status, and on SQLite the largest WAL file seen (sampled every 0.5 s).

    .venv/bin/python -m bench.load                          # both databases, 120 s each, 4 clients
    .venv/bin/python -m bench.load --db sqlite --seconds 10 # the short version the test suite runs

Figures and the latest run are in docs/RELIABILITY.md.
"""
from __future__ import annotations

import argparse
import html.parser
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import PY, ROOT, datasets
from bench.server import USER_AGENT, BenchServer, csrf_token

ITEMS = 20_000
WRITE_POOL = 200  # edits go to the first 200 live items, so repeated runs do not keep growing the "updated" history
LOAD_REPORT = '''
from dataclasses import replace
from reports.builtin import REPORTS as BUILTIN
REPORTS = (replace(next(r for r in BUILTIN if r.name == "activity"), name="load-activity",
                   title="Activity (load test)", schedule="* * * * *", timezone="UTC", retention_days=1),)
'''


class _Form(html.parser.HTMLParser):
    """The fields of the first form with a csrf_token, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._selected: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "y" if a.get("type") == "checkbox" else "")))
        elif tag == "select" and a.get("name"):
            self._select, self._selected, self._first_option = a["name"], None, None
        elif tag == "option" and self._select is not None:
            if self._first_option is None:
                self._first_option = a.get("value", "")
            if "selected" in a:
                self._selected = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, value = self.fields[-1]
            self.fields[-1] = (name, value + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            value = self._selected if self._selected is not None else (self._first_option or "")
            self.fields.append((self._select, value))
            self._select = None
        elif tag == "textarea":
            self._textarea = None


class Client:
    """One logged-in admin on one keep-alive connection."""

    def __init__(self, port: int, rng: random.Random, editable: list[int]) -> None:
        self.port, self.rng, self.cookie, self.editable = port, rng, "", editable
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.login()

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, Any, bytes]:
        headers = {"User-Agent": USER_AGENT, "Cookie": self.cookie}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        for c in resp.headers.get_all("Set-Cookie") or []:
            if c.startswith("session="):
                self.cookie = c.split(";")[0]
        return resp.status, resp.headers, data

    def login(self) -> None:
        _, _, page = self.request("GET", "/login")
        token = csrf_token(page.decode())
        status, _, _ = self.request("POST", "/login", urlencode(
            {"email": datasets.ADMIN_EMAIL, "password": datasets.ADMIN_PASSWORD, "csrf_token": token}))
        if status != 302:
            raise RuntimeError(f"login failed: HTTP {status}")

    def edit(self) -> int:
        """Fetch an item's edit form and post it back with a new title: what an admin's edit does."""
        item = self.rng.choice(self.editable)
        status, _, page = self.request("GET", f"/admin/items/edit/?id={item}")
        if status != 200:
            return status
        form = _Form()
        form.feed(page.decode())
        fields = [(k, f"load edit {self.rng.randrange(10**6)}" if k == "title" else v) for k, v in form.fields]
        status, _, _ = self.request("POST", f"/admin/items/edit/?id={item}", urlencode(fields))
        return status


READS = [
    ("dashboard", "/admin/"),
    ("activity page", "/admin/activity/"),
    ("feed.json", "/admin/activity/feed.json"),
    ("feed.json filtered", "/admin/activity/feed.json?model=item&action=updated"),
    ("export.csv 1 day", None),  # the last day's events, formed per request
]


def client_loop(port: int, seed: int, until: float, editable: list[int], out: dict[str, list[tuple[int, float]]],
                errors: list[str]) -> None:
    rng = random.Random(seed)
    try:
        client = Client(port, rng, editable)
    except Exception as exc:  # noqa: BLE001 - recorded, the run goes on with the other clients
        errors.append(f"client {seed}: {type(exc).__name__}: {exc}")
        return
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            if rng.random() < 0.10:
                kind, status = "edit (GET form + POST)", client.edit()
            else:
                kind, path = rng.choice(READS)
                if path is None:
                    since = datetime.now(UTC).replace(microsecond=0).isoformat()
                    path = "/admin/activity/export.csv?" + urlencode({"since": since[:10] + "T00:00:00+00:00"})
                status = client.request("GET", path)[0]
        except Exception as exc:  # noqa: BLE001 - any failure of one request is counted as an error, the load goes on
            kind, status = "connection error", 0
            if len(errors) < 5:
                errors.append(f"{type(exc).__name__}: {exc}")
        out[kind].append((status, (time.perf_counter() - started) * 1000))


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))], 2)


def run(db: str, args: argparse.Namespace) -> dict[str, Any]:
    ds = datasets.ensure(db, ITEMS, args.data_dir, log=print)
    datasets.prepare(ds, args.data_dir)
    editable = live_items(ds, args.data_dir)  # a deleted item's edit is refused (its deleter stays recorded)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        (work / "load_reports.py").write_text(LOAD_REPORT)
        env = datasets.app_env(ds.url, args.data_dir)
        env.update(PYTHONPATH=f"{ROOT}{os.pathsep}{work}", REPORT_MODULES="reports.builtin,load_reports")
        started_at = datetime.now(UTC)
        sched_log = open(work / "scheduler.log", "wb")  # noqa: SIM115 - the scheduler's log while it runs, closed below
        scheduler = subprocess.Popen([PY, "manage.py", "report", "schedule", "--report", "load-activity"], env=env,
                                     cwd=ROOT, stdout=sched_log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60  # its first tick (the period just ended) comes right after this line
        while b"scheduler started" not in (work / "scheduler.log").read_bytes() and time.monotonic() < deadline:
            if scheduler.poll() is not None:
                raise RuntimeError(f"scheduler exited: {(work / 'scheduler.log').read_text()[-1500:]}")
            time.sleep(0.2)
        # the server knows the report too (the reports page lists it)
        server = BenchServer(ds, args.data_dir, work, extra_env={k: env[k] for k in ("PYTHONPATH", "REPORT_MODULES")})
        wal = Path(ds.url.removeprefix("sqlite:///") + "-wal") if db == "sqlite" else None
        wal_max, stop = 0, threading.Event()

        def watch_wal() -> None:
            nonlocal wal_max
            while not stop.wait(0.5):
                if wal is not None and wal.exists():
                    wal_max = max(wal_max, wal.stat().st_size)

        watcher = threading.Thread(target=watch_wal, daemon=True)
        watcher.start()
        out: dict[str, list[tuple[int, float]]] = defaultdict(list)
        errors: list[str] = []
        until = time.monotonic() + args.seconds
        # Each admin edits items of their own: two saves of one item's form opened at once are refused by design
        # (the second admin is told; flask_activity.admin.guarded), which is not what this load measures.
        threads = [threading.Thread(target=client_loop,
                                    args=(server.port, i, until, editable[i::args.clients], out, errors))
                   for i in range(args.clients)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(args.seconds + 120)
            time.sleep(1)
        finally:
            stop.set()
            os.killpg(scheduler.pid, signal.SIGTERM)
            try:
                scheduler.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(scheduler.pid, signal.SIGKILL)
                scheduler.wait()
            sched_log.close()
            server_log = server.log_counts()
            server.stop()
        sched_text = (work / "scheduler.log").read_text(errors="replace")
    kinds = {}
    for kind, samples in sorted(out.items()):
        ms = [m for _, m in samples]
        kinds[kind] = {"requests": len(samples), "statuses": dict(Counter(s for s, _ in samples)),
                       "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95), "p99_ms": pct(ms, 99)}
    every = [m for samples in out.values() for _, m in samples]
    statuses = Counter(s for samples in out.values() for s, _ in samples)
    runs = report_runs(ds, args.data_dir, started_at)
    return {
        "db": db, "items": ds.items, "seconds": args.seconds, "clients": args.clients, "server": server.kind,
        "requests": len(every), "requests_per_s": round(len(every) / args.seconds, 1),
        "p50_ms": pct(every, 50), "p95_ms": pct(every, 95), "p99_ms": pct(every, 99),
        "statuses": dict(statuses), "5xx": sum(v for k, v in statuses.items() if k >= 500),
        "connection_errors": statuses.get(0, 0), "client_errors": errors,
        "writes": sum(k["requests"] for n, k in kinds.items() if n.startswith("edit")),
        "database_is_locked": server_log["database_is_locked"] + sched_text.lower().count("database is locked"),
        "tracebacks": server_log["tracebacks"] + sched_text.count("Traceback (most recent call last)"),
        "first_errors": server_log["first_errors"], "report_runs": runs, "scheduler_log_tail": sched_text[-600:],
        "wal_max_mb": round(wal_max / 2**20, 2) if wal is not None else None, "by_kind": kinds,
    }


def live_items(ds: datasets.Dataset, data_dir: Path) -> list[int]:
    """Ids of the first WRITE_POOL items that are not deleted."""
    from sqlalchemy import select

    from admin_app import create_app
    from admin_app.extensions import db
    from admin_app.models import Item

    app = create_app(datasets.app_config(ds.url, data_dir))
    with app.app_context():
        return list(db.session.scalars(select(Item.id).where(Item.deleted_at.is_(None)).order_by(Item.id)
                                       .limit(WRITE_POOL)))


def report_runs(ds: datasets.Dataset, data_dir: Path, since: datetime) -> dict[str, Any]:
    """The load report's runs made during this run, by status."""
    from sqlalchemy import select

    from admin_app import create_app
    from admin_app.extensions import db
    from flask_activity.reporting.models import ReportRun

    app = create_app(datasets.app_config(ds.url, data_dir))
    with app.app_context():
        rows = db.session.execute(select(ReportRun.status, ReportRun.rows, ReportRun.error)
                                  .where(ReportRun.report == "load-activity", ReportRun.started_at >= since)).all()
    return {"runs": len(rows), "statuses": dict(Counter(r.status for r in rows)),
            "errors": [r.error[:200] for r in rows if r.error][:3]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=int, default=120, help="load duration per database")
    parser.add_argument("--clients", type=int, default=4, help="concurrent logged-in clients")
    parser.add_argument("--data-dir", type=Path, default=datasets.DEFAULT_DATA_DIR)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "load.json")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.clients < 1:
        parser.error("--seconds and --clients must be at least 1")
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in dbs and (problem := datasets.pg_unreachable()):
        print(f"error: PostgreSQL is not reachable: {problem}", file=sys.stderr)
        return 2
    results = []
    for db in dbs:
        r = run(db, args)
        results.append(r)
        print(f"{db}: {r['requests']} requests in {r['seconds']} s ({r['requests_per_s']}/s, {r['writes']} edits), "
              f"p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms; 5xx {r['5xx']}, connection errors "
              f"{r['connection_errors']}, 'database is locked' {r['database_is_locked']}, "
              f"tracebacks {r['tracebacks']}; "
              f"report runs {r['report_runs']['statuses']}; WAL max {r['wal_max_mb']} MB", flush=True)
        for kind, k in r["by_kind"].items():
            print(f"  {kind:24} {k['requests']:6} requests  p50 {k['p50_ms']} ms  p95 {k['p95_ms']} ms  "
                  f"statuses {k['statuses']}")
    args.json.write_text(json.dumps({"when": datetime.now(UTC).isoformat(timespec="seconds"),
                                     "command": " ".join(sys.argv), "runs": results}, indent=2) + "\n")
    bad = any(r["5xx"] or r["database_is_locked"] or r["tracebacks"] or r["connection_errors"] for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
