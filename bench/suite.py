"""The benchmark suite (issue 5): feed, paging, filters, admin pages, CSV and load, per database and size.

One command (`make bench` runs it with the defaults):

    .venv/bin/python bench/suite.py [--sizes 100000,1000000,5000000] [--db sqlite|postgresql|both]
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
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import datasets  # noqa: E402

PY = sys.executable
TIME = "/usr/bin/time"
USER_AGENT = "bench-suite"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

# Issue 5's targets: (figure key, comparison, value, text).
TARGET_FEED_QUERY_MS = 3.0
TARGET_FEED_JSON_MS = 10.0
TARGET_FEED_GROWTH = 1.5
TARGET_DEEP_RATIO = 1.5
TARGET_FILTERED_MS = 50.0
TARGET_PAGE_MS = 200.0
TARGET_CSV_FLOOR_RATIO = 0.5
TARGET_CSV_RSS_MB = 100.0

MODEL_PAGES = {"dashboard": "/admin/", "activity page": "/admin/activity/", "users list": "/admin/users/",
               "bucketlists list": "/admin/bucketlists/", "items list": "/admin/items/"}


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --- timing ---------------------------------------------------------------------------------------------

def summarize(times_ms: list[float]) -> dict[str, Any]:
    s = sorted(times_ms)
    return {"median_ms": round(statistics.median(s), 3), "p95_ms": round(s[max(0, math.ceil(0.95 * len(s)) - 1)], 3),
            "min_ms": round(s[0], 3), "n": len(s)}


def measure(fn: Callable[[], Any], repeat: int, budget: float, warm: bool = True) -> dict[str, Any]:
    """Median and p95 of ``repeat`` timed calls (fewer, at least 3, if they would take over ``budget`` s)."""
    if warm:
        fn()
    times: list[float] = []
    n = repeat
    for i in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
        if i == 0 and times[0] / 1000 * repeat > budget:
            n = max(3, min(repeat, int(budget / (times[0] / 1000))))
        if len(times) >= n:
            break
    return summarize(times)


# --- machine --------------------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    from importlib.metadata import version

    mem = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable"):
            mem[key] = round(int(rest.split()[0]) / 1024 / 1024, 1)
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = {"python": platform.python_version(), "sqlite_library": sqlite3.sqlite_version}
    for pkg in ("Flask", "Flask-Admin", "SQLAlchemy", "psycopg", "pandas", "gunicorn", "waitress"):
        try:
            versions[pkg] = version(pkg)
        except Exception:  # noqa: BLE001
            versions[pkg] = None
    for tool, cmd in (("sqlite3_cli", ["sqlite3", "--version"]), ("wrk", ["wrk", "--version"]),
                      ("psql", ["psql", "--version"])):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            versions[tool] = (out.stdout or out.stderr).strip().splitlines()[0]
        except Exception:  # noqa: BLE001
            versions[tool] = None
    return {"cores": os.cpu_count(), "cpu": cpu, "mem_total_gib": mem.get("MemTotal"),
            "mem_available_gib": mem.get("MemAvailable"), "kernel": platform.release(), "versions": versions}


# --- SQL shared by the OFFSET paging figure and the CSV peers --------------------------------------------

def union_sql(order: bool = True) -> str:
    """Every event as one UNION ALL (the feed's rules), with the actor's email; portable SQLite/PostgreSQL."""
    branches = []
    for rank, (model, table, label) in enumerate((("bucketlist", "bucketlists", "title"), ("item", "items", "title"),
                                                  ("user", "users", "email"))):
        branches += [
            f"SELECT '{model}' AS model, id, created_at AS at, 'created' AS action, created_by_id AS actor_id, "
            f"{label} AS label, {rank} AS model_rank, 0 AS action_rank FROM {table}",
            f"SELECT '{model}', id, updated_at, 'updated', updated_by_id, {label}, {rank}, 1 FROM {table} "
            f"WHERE updated_at > created_at AND (deleted_at IS NULL OR updated_at <> deleted_at)",
            f"SELECT '{model}', id, deleted_at, 'deleted', updated_by_id, {label}, {rank}, 2 FROM {table} "
            f"WHERE deleted_at IS NOT NULL",
        ]
    sql = ("SELECT e.at, e.model, e.id, e.action, e.actor_id, u.email AS actor_email, e.label FROM ("
           + " UNION ALL ".join(branches) + ") e LEFT JOIN users u ON u.id = e.actor_id")
    if order:
        sql += " ORDER BY e.at DESC, e.model_rank DESC, e.id DESC, e.action_rank DESC"
    return sql


def offset_sql(depth: int) -> str:
    """Page ``depth`` of 50 by OFFSET: what keyset paging replaces."""
    return union_sql() + f" LIMIT 50 OFFSET {(depth - 1) * 50}"


# --- child processes ------------------------------------------------------------------------------------

def run_measured(cmd: list[str], env: dict[str, str] | None = None, stdout_path: Path | None = None,
                 timeout: float = 3600) -> dict[str, Any]:
    """Run ``cmd`` under /usr/bin/time; wall seconds, peak RSS (MB), exit code, stdout (unless redirected)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [TIME, "-f", "%e %M", "-o", tf.name, *cmd]
        out_fh = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
        started = time.perf_counter()
        try:
            proc = subprocess.run(full, env=env, stdout=out_fh, stderr=subprocess.PIPE, timeout=timeout, cwd=ROOT)
        finally:
            if stdout_path:
                out_fh.close()  # type: ignore[union-attr]
        wall = time.perf_counter() - started
        parts = Path(tf.name).read_text().split()
    rss_mb = round(int(parts[-1]) / 1024, 1) if parts and parts[-1].isdigit() else None
    return {"returncode": proc.returncode, "wall_s": round(wall, 3), "peak_rss_mb": rss_mb,
            "stdout": proc.stdout.decode(errors="replace") if proc.stdout else "",
            "stderr": proc.stderr.decode(errors="replace")[-2000:]}


def child_json(res: dict[str, Any]) -> dict[str, Any]:
    """The last JSON line a Python child printed."""
    for line in reversed(res["stdout"].strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"child printed no JSON (exit {res['returncode']}): {res['stderr'][-800:]}")


def count_csv_rows(path: Path) -> int:
    """Data rows of a CSV file (lines minus the header; the benchmark's labels have no newlines)."""
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
    return max(0, n - 1)


def _wsgi_get(app: Any, path: str, cookie: str | None, out: Path) -> tuple[int, int]:
    """Call the WSGI app as a server would, streaming the body to ``out``; (status, bytes)."""
    from werkzeug.test import EnvironBuilder

    headers = {"User-Agent": USER_AGENT}
    if cookie:
        headers["Cookie"] = cookie
    env = EnvironBuilder(path=path, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()
    status: list[str] = []

    def start_response(s: str, _headers: Any, _exc: Any = None) -> Any:
        status.append(s)
        return lambda _b: None

    size = 0
    body = app(env, start_response)
    try:
        with open(out, "wb") as fh:
            for chunk in body:
                size += len(chunk)
                fh.write(chunk)
    finally:
        if hasattr(body, "close"):
            body.close()
    return int(status[0].split()[0]), size


def test_client_login(app: Any) -> Any:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    page = client.get("/login").get_data(as_text=True)
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    resp = client.post("/login", data={"email": datasets.ADMIN_EMAIL, "password": datasets.ADMIN_PASSWORD,
                                       "csrf_token": token})
    if resp.status_code != 302:
        raise RuntimeError(f"login failed: HTTP {resp.status_code}")
    return client


def child_main(argv: list[str]) -> None:
    """Work done in a fresh process: `suite.py --child KIND URL DATA_DIR [ARGS...]`; prints one JSON line."""
    kind, url, data_dir = argv[0], argv[1], Path(argv[2])
    if kind == "export-endpoint":
        from admin_app import create_app

        out = Path(argv[3])
        app = create_app(datasets.app_config(url, data_dir))
        client = test_client_login(app)
        cookie = client.get_cookie("session")
        started = time.perf_counter()
        status, size = _wsgi_get(app, "/admin/activity/export.csv", f"session={cookie.value}", out)
        print(json.dumps({"status": status, "bytes": size, "work_s": round(time.perf_counter() - started, 3)}))
    elif kind == "stock-export":
        from flask import Flask
        from flask_admin import Admin
        from flask_admin.contrib.sqla import ModelView

        from admin_app.extensions import db
        from admin_app.models import Item

        out = Path(argv[3])
        app = Flask("stock_export")
        app.config.update(SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=datasets.BENCH_SECRET)
        db.init_app(app)
        admin = Admin(app, name="stock")
        admin.add_view(type("StockItemView", (ModelView,), {"can_export": True})(Item, db.session,
                                                                                  endpoint="stock_items"))
        started = time.perf_counter()
        status, size = _wsgi_get(app, "/admin/stock_items/export/csv/", None, out)
        print(json.dumps({"status": status, "bytes": size, "work_s": round(time.perf_counter() - started, 3)}))
    elif kind == "pandas-oneshot":
        import pandas as pd
        from sqlalchemy import create_engine, text

        out = Path(argv[3])
        engine = create_engine(url)
        started = time.perf_counter()
        with engine.connect() as conn:
            frame = pd.read_sql(text(union_sql()), conn)
        frame.to_csv(out, index=False)
        print(json.dumps({"rows": len(frame), "work_s": round(time.perf_counter() - started, 3)}))
    elif kind == "baseline":
        from admin_app import create_app

        test_client_login(create_app(datasets.app_config(url, data_dir)))
        print(json.dumps({}))
    elif kind == "naive-feed":
        print(json.dumps(naive_feed(url, int(argv[3]))))
    elif kind == "writer":
        print(json.dumps(writer(url, data_dir, float(argv[3]), int(argv[4]))))
    else:
        raise SystemExit(f"unknown child {kind}")


def naive_feed(url: str, repeat: int) -> dict[str, Any]:
    """The naive first page: read every row of the three tables with pandas, melt into events, sort, take 50."""
    import pandas as pd
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    times, rows_read = [], 0
    top: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        frames = []
        with engine.connect() as conn:
            emails = pd.read_sql(text("SELECT id, email FROM users"), conn).set_index("id")["email"]
            for model, table, label in (("bucketlist", "bucketlists", "title"), ("item", "items", "title"),
                                        ("user", "users", "email")):
                df = pd.read_sql(text(f"SELECT id, {label} AS label, created_at, updated_at, deleted_at, "
                                      f"created_by_id, updated_by_id FROM {table}"), conn)
                rows_read += len(df)
                df["model"] = model
                df["c"], df["d"] = df["created_at"], df["deleted_at"]
                ev = df.melt(id_vars=["model", "id", "label", "c", "d", "created_by_id", "updated_by_id"],
                             value_vars=["created_at", "updated_at", "deleted_at"], var_name="col", value_name="at")
                ev = ev[ev["at"].notna()]
                upd = ev["col"] == "updated_at"  # the feed's rule: after creation and not the deletion itself
                ev = ev[~upd | ((ev["at"] > ev["c"]) & (ev["d"].isna() | (ev["at"] != ev["d"])))]
                ev = ev.assign(action=ev["col"].map({"created_at": "created", "updated_at": "updated",
                                                     "deleted_at": "deleted"}))
                ev["actor_id"] = ev["created_by_id"].where(ev["action"] == "created", ev["updated_by_id"])
                frames.append(ev[["at", "model", "id", "action", "actor_id", "label"]])
        events = pd.concat(frames, ignore_index=True)
        top = events.sort_values(["at", "model", "id"], ascending=False).head(50)
        top = top.assign(actor_email=top["actor_id"].map(emails))
        times.append((time.perf_counter() - t0) * 1000)
    return {**summarize(times), "events": int(len(events)), "rows_read_per_run": rows_read // repeat,
            "first": [str(top.iloc[0]["at"]), top.iloc[0]["model"], int(top.iloc[0]["id"])]}


WRITER_POOL = 1000  # the writer updates only the first 1,000 items, so runs do not drift the cached data


def writer(url: str, data_dir: Path, seconds: float, items: int) -> dict[str, Any]:
    """Update random items, 5 per transaction and 10 ms apart, through the app's ORM, for ``seconds``.

    Items are drawn from ids 1..WRITER_POOL: every run rewrites the same rows, so a cached database gains at most
    WRITER_POOL 'updated' events however often the suite runs (and the dashboard's "today" counts stay bounded).
    """
    import random

    from sqlalchemy.exc import OperationalError

    from admin_app import create_app
    from admin_app.audit import acting_as
    from admin_app.extensions import db
    from admin_app.models import Item

    app = create_app(datasets.app_config(url, data_dir))
    rng = random.Random(7)
    stats = {"transactions": 0, "updates": 0, "locked": 0, "other_errors": 0, "errors_sample": []}
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    with app.app_context():
        end = time.monotonic() + seconds
        while time.monotonic() < end and not stop[0]:
            try:
                with acting_as(rng.randint(1, datasets.USERS)):
                    for item_id in rng.sample(range(1, min(items, WRITER_POOL) + 1), 5):
                        item = db.session.get(Item, item_id)
                        if item is not None:
                            item.title = f"bench write {rng.randrange(10**6)}"
                    db.session.commit()
                stats["transactions"] += 1
                stats["updates"] += 5
            except OperationalError as exc:
                db.session.rollback()
                if "locked" in str(exc).lower():
                    stats["locked"] += 1
                else:
                    stats["other_errors"] += 1
                if len(stats["errors_sample"]) < 3:
                    stats["errors_sample"].append(str(exc.orig)[:200])
            time.sleep(0.01)
    stats["seconds"] = seconds
    return stats


# --- the in-process figures -----------------------------------------------------------------------------

def inprocess(ds: datasets.Dataset, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import func, select, text

    from admin_app import activity, create_app
    from admin_app.extensions import db
    from admin_app.models import Item

    app = create_app(datasets.app_config(ds.url, data_dir))
    out: dict[str, Any] = {}
    rep, budget = args.repeat, args.budget
    with app.app_context():
        counts = activity.count_events(activity.ActivityFilter())
        out["events"] = sum(counts.values())
        out["events_by_branch"] = {f"{m}/{a}": n for (m, a), n in counts.items()}
        # the actor: the user with the median number of created items (every seeded user is alike)
        per_user = db.session.execute(select(Item.created_by_id, func.count()).group_by(Item.created_by_id)
                                      .order_by(func.count(), Item.created_by_id)).all()
        actor_id, actor_items = per_user[len(per_user) // 2]
        oldest = db.session.scalar(select(func.min(Item.created_at)))
        day = datetime(oldest.year, oldest.month, oldest.day, tzinfo=timezone.utc) + timedelta(days=1)
        first_day = db.session.scalar(select(func.min(activity.model_registry()["user"].created_at)))
        out["params"] = {"actor_id": actor_id, "actor_items_created": actor_items,
                         "window": [day.isoformat(), (day + timedelta(days=1)).isoformat()],
                         "first_event": first_day.isoformat()}

        flt = activity.ActivityFilter()
        feed = {"query_layer": measure(lambda: activity.fetch_page(flt, 50), rep, budget)}
        out["feed"] = feed

        depth = min(200, max(2, out["events"] // 50))  # page 200, or the last whole page of a tiny history
        cursor = None
        for _ in range(depth - 1):
            cursor = activity.fetch_page(flt, 50, cursor).next_cursor
        deep_cursor = cursor
        page1 = feed["query_layer"]
        deep = measure(lambda: activity.fetch_page(flt, 50, deep_cursor), rep, budget)
        sql = text(offset_sql(depth))
        offset_rows = db.session.execute(sql).all()
        deep_page = activity.fetch_page(flt, 50, deep_cursor).events
        same = [(r.model, r.id, r.action) for r in offset_rows] == [(e.model, e.id, e.action) for e in deep_page]
        offset = measure(lambda: db.session.execute(sql).all(), rep, budget, warm=False)
        db.session.rollback()
        out["paging"] = {"depth": depth, "page1": page1, "deep_keyset": deep, "deep_offset": offset,
                         "keyset_over_page1": round(deep["median_ms"] / page1["median_ms"], 2),
                         "offset_over_keyset": round(offset["median_ms"] / deep["median_ms"], 1),
                         "offset_same_rows_as_keyset": same}

        filters = {
            "actor": (activity.ActivityFilter(actor_id=actor_id), {"actor": str(actor_id)}),
            "model=item": (activity.ActivityFilter(models=("item",)), {"model": "item"}),
            "action=deleted": (activity.ActivityFilter(actions=("deleted",)), {"action": "deleted"}),
            "1-day window": (activity.ActivityFilter(since=day, until=day + timedelta(days=1)),
                            {"since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()}),
        }
        filtered: dict[str, Any] = {}
        for name, (f, _q) in filters.items():
            filtered[name] = {"query_layer": measure(lambda f=f: activity.fetch_page(f, 50), rep, budget),
                              "rows": len(activity.fetch_page(f, 50).events)}
        db.session.remove()

    client = test_client_login(app)

    def get(path: str, query: dict[str, str] | None = None) -> Callable[[], Any]:
        def call() -> Any:
            resp = client.get(path, query_string=query)
            resp.get_data()
            if resp.status_code != 200:
                raise RuntimeError(f"GET {path} {query or ''}: HTTP {resp.status_code}")
            return resp
        return call

    feed["feed_json_inprocess"] = measure(get("/admin/activity/feed.json"), rep, budget)
    for name, (_f, q) in filters.items():
        filtered[name]["feed_json_inprocess"] = measure(get("/admin/activity/feed.json", q), rep, budget)
    out["filtered"] = filtered
    out["pages"] = {name: measure(get(path), rep, budget) for name, path in MODEL_PAGES.items()}
    with app.app_context():
        db.engine.dispose()
    return out


# --- CSV --------------------------------------------------------------------------------------------------

def csv_section(ds: datasets.Dataset, data_dir: Path, events: int, params: dict[str, Any],
                args: argparse.Namespace, work: Path) -> dict[str, Any]:
    env = datasets.app_env(ds.url, data_dir)
    res: dict[str, Any] = {}

    def figure(rows: int, work_s: float, r: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"rows": rows, "seconds": round(work_s, 3), "wall_s": r["wall_s"],
                "rows_per_s": round(rows / work_s) if work_s > 0 else None, "peak_rss_mb": r["peak_rss_mb"], **extra}

    # what a Python process with the app imported and created holds before any export: context for peak RSS
    r = run_measured([PY, __file__, "--child", "baseline", ds.url, str(data_dir)], env)
    res["app_baseline_rss_mb"] = r["peak_rss_mb"]

    # the app: export endpoint
    out = work / "export.csv"
    r = run_measured([PY, __file__, "--child", "export-endpoint", ds.url, str(data_dir), str(out)], env)
    c = child_json(r)
    if c["status"] != 200:
        raise RuntimeError(f"export.csv: HTTP {c['status']}")
    res["export_endpoint"] = figure(count_csv_rows(out), c["work_s"], r)
    out.unlink()

    # the app: activity report for the whole history
    first = datetime.fromisoformat(params["first_event"]).date() - timedelta(days=1)
    until = datetime.now(timezone.utc).date() + timedelta(days=2)
    out = work / "report.csv"
    r = run_measured([PY, "manage.py", "report", "run", "activity", "--since", first.isoformat(),
                      "--until", until.isoformat(), "--out", str(out)], env)
    if r["returncode"] != 0:
        raise RuntimeError(f"report run failed: {r['stderr'][-800:]}")
    m = re.search(r"(\d+) rows, (\d+) bytes, ([\d.]+) s", r["stdout"])
    rows = count_csv_rows(out)
    res["report_run"] = figure(rows, float(m.group(3)) if m else r["wall_s"], r,
                               rows_reported=int(m.group(1)) if m else None)
    out.unlink()

    # the floor: the database's own CSV writer on the same query
    out = work / "floor.csv"
    if ds.db == "sqlite":
        path = ds.url.removeprefix("sqlite:///")
        r = run_measured(["sqlite3", "-csv", "-header", path, union_sql()], stdout_path=out)
        name = "sqlite3_csv"
    else:
        from sqlalchemy.engine import make_url

        u = make_url(ds.url)
        r = run_measured(["psql", "-X", "-q", "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U",
                          u.username or "postgres", "-d", u.database or "",
                          "-c", f"COPY ({union_sql()}) TO STDOUT WITH (FORMAT csv, HEADER)"], stdout_path=out)
        name = "psql_copy"
    if r["returncode"] != 0:
        raise RuntimeError(f"{name} failed: {r['stderr'][-800:]}")
    res[name] = figure(count_csv_rows(out), r["wall_s"], r)
    res["floor"] = name
    out.unlink()

    # one-shot pandas and Flask-Admin's stock export: capped
    item_rows = ds.items
    for name, kind, n in (("pandas_oneshot", "pandas-oneshot", events), ("flask_admin_stock", "stock-export", item_rows)):
        if n > args.max_peer_rows:
            res[name] = {"skipped": f"{n:,} rows > --max-peer-rows {args.max_peer_rows:,}"}
            continue
        out = work / f"{name}.csv"
        r = run_measured([PY, __file__, "--child", kind, ds.url, str(data_dir), str(out)], env)
        c = child_json(r)
        if c.get("status", 200) != 200:
            raise RuntimeError(f"{name}: HTTP {c['status']}")
        res[name] = figure(count_csv_rows(out), c["work_s"], r)
        out.unlink()

    floor = res[res["floor"]]["rows_per_s"]
    for key in ("export_endpoint", "report_run", "pandas_oneshot", "flask_admin_stock"):
        if "rows_per_s" in res.get(key, {}) and floor:
            res[key]["over_floor"] = round(res[key]["rows_per_s"] / floor, 3)
        if key != "flask_admin_stock" and "rows" in res.get(key, {}):  # the same events as the floor wrote?
            res[key]["rows_match_floor"] = res[key]["rows"] == res[res["floor"]]["rows"]
    return res


# --- the real server and the load generator --------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn (2 workers) with the app on 127.0.0.1, or waitress via manage.py run when gunicorn is missing."""

    def __init__(self, ds: datasets.Dataset, data_dir: Path, work: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.log_path = work / "server.log"
        env = {**datasets.app_env(ds.url, data_dir), **(extra_env or {})}
        gunicorn = Path(PY).parent / "gunicorn"
        if gunicorn.exists():
            self.kind = "gunicorn 2 workers (gthread, 4 threads each)"
            cmd = [str(gunicorn), "-w", "2", "-k", "gthread", "--threads", "4", "-b", f"127.0.0.1:{self.port}",
                   "--log-level", "warning", "admin_app:create_app()"]
        else:
            self.kind = "waitress (manage.py run, 1 process, 8 threads): gunicorn is not installed"
            cmd = [PY, "manage.py", "run", "--port", str(self.port)]
        self.log_fh = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self.log_fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.cookie = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-1500:]}")
            try:
                if self.request("GET", "/login")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not answer within 60 s")
        self.login()

    def request(self, method: str, path: str, body: str | None = None, conn: Any = None) -> tuple[int, Any, bytes]:
        import http.client

        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"User-Agent": USER_AGENT}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if own:
            conn.close()
        return resp.status, resp.headers, data

    def login(self) -> None:
        from urllib.parse import urlencode

        status, headers, page = self.request("GET", "/login")
        self.cookie = "; ".join(c.split(";")[0] for c in headers.get_all("Set-Cookie") or [])
        token = CSRF.search(page.decode()).group(1)  # type: ignore[union-attr]
        status, headers, _ = self.request("POST", "/login", urlencode(
            {"email": datasets.ADMIN_EMAIL, "password": datasets.ADMIN_PASSWORD, "csrf_token": token}))
        if status != 302:
            raise RuntimeError(f"login through the server failed: HTTP {status}")
        self.cookie = "; ".join(c.split(";")[0] for c in headers.get_all("Set-Cookie") or [])
        if self.request("GET", "/admin/activity/feed.json")[0] != 200:
            raise RuntimeError("the session cookie does not open feed.json")

    def log_counts(self) -> dict[str, int]:
        text = self.log_path.read_text(errors="replace")
        errors = [line for line in text.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", line)]
        return {"database_is_locked": text.lower().count("database is locked"),
                "tracebacks": text.count("Traceback (most recent call last)"),
                "worker_timeouts": text.count("WORKER TIMEOUT"),
                "first_errors": list(dict.fromkeys(e[:300] for e in errors))[:3]}

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log_fh.close()


WRK_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do total[k] = (total[k] or 0) + v end
  end
  io.write("STATUS")
  for k, v in pairs(total) do io.write(string.format(" %d=%d", k, v)) end
  io.write("\\n")
end
"""


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]


def run_wrk(server: Server, path: str, seconds: int, work: Path, connections: int) -> dict[str, Any]:
    script = work / "status.lua"
    script.write_text(WRK_LUA)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(script),
           "-H", f"Cookie: {server.cookie}", "-H", f"User-Agent: {USER_AGENT}",
           f"http://127.0.0.1:{server.port}{path}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    out = proc.stdout
    res: dict[str, Any] = {"path": path, "seconds": seconds, "connections": connections}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["requests_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = round(_ms(m.group(1)), 3) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    statuses = {}
    m2 = re.search(r"^STATUS(.*)$", out, re.M)
    if m2:
        statuses = {int(k): int(v) for k, v in (p.split("=") for p in m2.group(1).split())}
    res["statuses"] = statuses
    res["non_2xx"] = sum(v for k, v in statuses.items() if not 200 <= k < 300) if statuses else (
        int(m.group(1)) if m else 0)
    res["errors"] = res["non_2xx"] + res["socket_errors"]
    if proc.returncode != 0 or res["requests_per_s"] is None:
        res["wrk_error"] = (proc.stderr or out)[-500:]
    return res


def load_section(ds: datasets.Dataset, data_dir: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    server = Server(ds, data_dir, work)
    res: dict[str, Any] = {"server": server.kind, "wrk": f"1 thread, {args.connections} connections"}
    try:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)

        def feed_once() -> None:
            status, _, _ = server.request("GET", "/admin/activity/feed.json", conn=conn)
            if status != 200:
                raise RuntimeError(f"feed.json through the server: HTTP {status}")

        res["feed_json_server"] = measure(feed_once, args.repeat, args.budget)
        conn.close()
        targets = {"dashboard": "/admin/", "feed.json": "/admin/activity/feed.json"}
        res["idle"] = {name: run_wrk(server, path, args.load_seconds, work, args.connections)
                       for name, path in targets.items()}
        before = server.log_counts()
        duration = 2 * args.load_seconds + 3
        wproc = subprocess.Popen([PY, __file__, "--child", "writer", ds.url, str(data_dir), str(duration),
                                  str(ds.items)], env=datasets.app_env(ds.url, data_dir), cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # the writer's app is up and writing
        res["with_writer"] = {name: run_wrk(server, path, args.load_seconds, work, args.connections)
                              for name, path in targets.items()}
        wout, werr = wproc.communicate(timeout=duration + 60)
        try:
            res["writer"] = json.loads(wout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            res["writer"] = {"failed": werr[-800:]}
        after = server.log_counts()
        res["server_log"] = after
        res["server_log_during_writer"] = {k: after[k] - before[k] for k in after if k != "first_errors"}
        res["locked_errors"] = res["writer"].get("locked", 0) + res["server_log_during_writer"]["database_is_locked"]
    finally:
        server.stop()
    return res


# --- targets, tables, growth -----------------------------------------------------------------------------

def check(value: float | None, limit: float, smaller: bool = True) -> str:
    if value is None:
        return "n/a"
    return "met" if (value <= limit if smaller else value >= limit) else "MISSED"


def rows_for(run: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(figure, median, p95, n, peer / ratio, target: status) lines for one database and size."""
    lines = []

    def t(x: dict[str, Any]) -> tuple[str, str, str]:
        return f"{x['median_ms']:.2f} ms", f"{x['p95_ms']:.2f} ms", str(x["n"])

    f = run["feed"]
    naive = f.get("naive_pandas")
    nv = f"naive pandas {naive['median_ms'] / 1000:.2f} s = {naive['median_ms'] / f['query_layer']['median_ms']:,.0f}x" \
        if naive and "median_ms" in naive else "naive: skipped"
    lines.append(("feed p1, fetch_page", *t(f["query_layer"]), nv,
                  f"< {TARGET_FEED_QUERY_MS:g} ms: {check(f['query_layer']['median_ms'], TARGET_FEED_QUERY_MS)}"))
    lines.append(("feed p1, feed.json in-process", *t(f["feed_json_inprocess"]),
                  f"{f['feed_json_inprocess']['median_ms'] / f['query_layer']['median_ms']:.2f}x fetch_page",
                  f"< {TARGET_FEED_JSON_MS:g} ms: {check(f['feed_json_inprocess']['median_ms'], TARGET_FEED_JSON_MS)}"))
    if "feed_json_server" in f:
        lines.append(("feed p1, feed.json via server", *t(f["feed_json_server"]),
                      f"{f['feed_json_server']['median_ms'] / f['query_layer']['median_ms']:.2f}x fetch_page", ""))
    p = run["paging"]
    lines.append((f"page {p['depth']}, keyset", *t(p["deep_keyset"]), f"{p['keyset_over_page1']:.2f}x page 1",
                  f"<= {TARGET_DEEP_RATIO:g}x p1: {check(p['keyset_over_page1'], TARGET_DEEP_RATIO)}"))
    lines.append((f"page {p['depth']}, OFFSET {(p['depth'] - 1) * 50}", *t(p["deep_offset"]),
                  f"{p['offset_over_keyset']:,.1f}x keyset",
                  "same rows" if p["offset_same_rows_as_keyset"] else "ROWS DIFFER"))
    for name, x in run["filtered"].items():
        for via, key in (("fetch_page", "query_layer"), ("feed.json", "feed_json_inprocess")):
            lines.append((f"filter {name}, {via}", *t(x[key]), f"{x['rows']} rows",
                          f"< {TARGET_FILTERED_MS:g} ms: {check(x[key]['median_ms'], TARGET_FILTERED_MS)}"))
    for name, x in run["pages"].items():
        lines.append((f"page {name}", *t(x), "", f"< {TARGET_PAGE_MS:g} ms: {check(x['median_ms'], TARGET_PAGE_MS)}"))
    return lines


def csv_lines(run: dict[str, Any]) -> list[tuple[str, ...]]:
    c = run["csv"]
    floor_name = c["floor"]
    lines = [("python + app created, idle", "", "", "", f"{c['app_baseline_rss_mb']:.1f} MB",
              "baseline of every Python child below")]
    for key in ("export_endpoint", "report_run", floor_name, "pandas_oneshot", "flask_admin_stock"):
        x = c.get(key)
        if x is None:
            continue
        if "skipped" in x:
            lines.append((key, "", "", "", "", f"skipped: {x['skipped']}"))
            continue
        ratio = f"{x['over_floor']:.2f}x {floor_name}" if "over_floor" in x else "(floor)"
        if x.get("rows_match_floor") is False:
            ratio += f" (ROW COUNT DIFFERS from {floor_name})"
        target = ""
        if key in ("export_endpoint", "report_run"):
            target = (f">= {TARGET_CSV_FLOOR_RATIO:g}x floor: {check(x.get('over_floor'), TARGET_CSV_FLOOR_RATIO, False)}"
                      f"; RSS < {TARGET_CSV_RSS_MB:g} MB: {check(x['peak_rss_mb'], TARGET_CSV_RSS_MB)}")
        lines.append((key, f"{x['rows']:,}", f"{x['seconds']:.2f} s", f"{x['rows_per_s']:,}",
                      f"{x['peak_rss_mb']:.1f} MB", f"{ratio}  {target}".strip()))
    return lines


def load_lines(run: dict[str, Any]) -> list[tuple[str, ...]]:
    ld = run["load"]
    lines = []
    for phase in ("idle", "with_writer"):
        for name, x in ld[phase].items():
            lines.append((f"{name} {'(writer)' if phase == 'with_writer' else ''}".strip(),
                          f"{x['requests_per_s']:,.1f}" if x["requests_per_s"] is not None else "-",
                          f"{x['p50_ms']:.1f} ms" if x["p50_ms"] is not None else "-",
                          f"{x['p99_ms']:.1f} ms" if x["p99_ms"] is not None else "-",
                          str(x["non_2xx"]), str(x["socket_errors"]),
                          f"0 errors: {check(x['errors'], 0)}"))
    return lines


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    log("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)))
    log("  " + "  ".join("-" * w for w in widths))
    for r in rows:
        log("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def print_run(run: dict[str, Any]) -> None:
    log()
    log(f"== {run['db']}, {run['items']:,} items, {run['events']:,} events "
        f"(seed {'cached' if run['seed'].get('cached') else 'made now'}: {run['seed'].get('seed_seconds')} s) ==")
    print_table(("figure", "median", "p95", "n", "peer / ratio", "target (issue 5)"), rows_for(run))
    if "csv" in run:
        log()
        print_table(("CSV, whole history", "rows", "seconds", "rows/s", "peak RSS", "vs floor / target"),
                    csv_lines(run))
    if "load" in run:
        ld = run["load"]
        log()
        log(f"  load: {ld['server']}; wrk {ld['wrk']}, {run['load']['idle']['dashboard']['seconds']} s each")
        print_table(("endpoint", "req/s", "p50", "p99", "non-2xx", "socket err", "target"), load_lines(run))
        if ld["server_log"]["tracebacks"]:
            log(f"  server log: {ld['server_log']['tracebacks']} tracebacks, first errors: "
                f"{ld['server_log']['first_errors']}")
        w = ld["writer"]
        locked = ld["locked_errors"]
        log(f"  writer: {w.get('transactions', 0):,} transactions ({w.get('updates', 0):,} item updates) in "
            f"{w.get('seconds')} s, 'database is locked': {w.get('locked', 0)} in the writer, "
            f"{ld['server_log_during_writer']['database_is_locked']} in the server log, other writer errors "
            f"{w.get('other_errors', 0)}; 0 locked: {check(locked, 0)}")
    for err in run.get("errors", []):
        log(f"  ERROR in {err}")


def figure_medians(run: dict[str, Any]) -> dict[str, float]:
    """Every timing of a run as name -> median ms (or rows/s, peak MB) for the growth table."""
    out: dict[str, float] = {}
    f = run.get("feed", {})
    for k, v in f.items():
        if isinstance(v, dict) and "median_ms" in v:
            out[f"feed p1, {k}"] = v["median_ms"]
    for k in ("deep_keyset", "deep_offset"):
        if k in run.get("paging", {}):
            out[f"page {run['paging']['depth']}, {k.split('_')[1]}"] = run["paging"][k]["median_ms"]
    for name, x in run.get("filtered", {}).items():
        for k in ("query_layer", "feed_json_inprocess"):
            out[f"filter {name}, {k}"] = x[k]["median_ms"]
    for name, x in run.get("pages", {}).items():
        out[f"page {name}"] = x["median_ms"]
    for key, x in run.get("csv", {}).items():
        if isinstance(x, dict) and "rows_per_s" in x:
            out[f"csv {key} rows/s"] = x["rows_per_s"]
            out[f"csv {key} peak RSS MB"] = x["peak_rss_mb"]
    for phase in ("idle", "with_writer"):
        for name, x in run.get("load", {}).get(phase, {}).items():
            if x.get("requests_per_s"):
                out[f"load {name}{' (writer)' if phase == 'with_writer' else ''} req/s"] = x["requests_per_s"]
                out[f"load {name}{' (writer)' if phase == 'with_writer' else ''} p99 ms"] = x["p99_ms"]
    return out


def growth(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for db in sorted({r["db"] for r in runs}):
        mine = sorted((r for r in runs if r["db"] == db and "feed" in r), key=lambda r: r["items"])
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        a, b = figure_medians(small), figure_medians(large)
        for name in a:
            if name in b and a[name]:
                row = {"db": db, "figure": name, "small_items": small["items"], "large_items": large["items"],
                       "small": a[name], "large": b[name], "ratio": round(b[name] / a[name], 2)}
                if name in ("feed p1, query_layer", "feed p1, feed_json_inprocess"):
                    row["target"] = f"<= {TARGET_FEED_GROWTH:g}x: {check(row['ratio'], TARGET_FEED_GROWTH)}"
                table.append(row)
    return table


def targets_summary(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of issue 5 with the figure measured for it and met/missed."""
    out = []

    def add(name: str, value: Any, limit: float, smaller: bool = True) -> None:
        out.append({"target": name, "value": value, "limit": limit, "status": check(value, limit, smaller)})

    if "feed" in run:
        add("feed p1 fetch_page median ms", run["feed"]["query_layer"]["median_ms"], TARGET_FEED_QUERY_MS)
        add("feed p1 feed.json in-process median ms", run["feed"]["feed_json_inprocess"]["median_ms"],
            TARGET_FEED_JSON_MS)
        add("page 200 keyset / page 1", run["paging"]["keyset_over_page1"], TARGET_DEEP_RATIO)
        for name, x in run["filtered"].items():
            add(f"filter {name} fetch_page median ms", x["query_layer"]["median_ms"], TARGET_FILTERED_MS)
            add(f"filter {name} feed.json median ms", x["feed_json_inprocess"]["median_ms"], TARGET_FILTERED_MS)
        for name, x in run["pages"].items():
            add(f"page {name} median ms", x["median_ms"], TARGET_PAGE_MS)
    if "csv" in run:
        for key in ("export_endpoint", "report_run"):
            x = run["csv"][key]
            add(f"csv {key} rows/s over {run['csv']['floor']}", x.get("over_floor"), TARGET_CSV_FLOOR_RATIO, False)
            add(f"csv {key} peak RSS MB", x["peak_rss_mb"], TARGET_CSV_RSS_MB)
    if "load" in run:
        for phase in ("idle", "with_writer"):
            for name, x in run["load"][phase].items():
                add(f"load {name} {phase} errors", x["errors"], 0)
        add("load 'database is locked' errors with writer", run["load"]["locked_errors"], 0)
    return out


# --- main -------------------------------------------------------------------------------------------------

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
        r = run_measured([PY, __file__, "--child", "naive-feed", ds.url, str(args.data_dir), str(args.naive_repeat)],
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
            except Exception as exc:  # noqa: BLE001 - report and go on with the next section
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
    if argv[:1] == ["--child"]:
        child_main(argv[1:])
        return 0
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
    result = {"command": " ".join([Path(sys.executable).name, "bench/suite.py", *argv]),
              "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "started": datetime.now(timezone.utc).isoformat(), "seconds": round(total, 1), "machine": machine,
              "skipped": skipped, "runs": runs, "growth": g,
              "targets": {"feed_query_ms": TARGET_FEED_QUERY_MS, "feed_json_ms": TARGET_FEED_JSON_MS,
                          "feed_growth": TARGET_FEED_GROWTH, "deep_ratio": TARGET_DEEP_RATIO,
                          "filtered_ms": TARGET_FILTERED_MS, "page_ms": TARGET_PAGE_MS,
                          "csv_floor_ratio": TARGET_CSV_FLOOR_RATIO, "csv_rss_mb": TARGET_CSV_RSS_MB}}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    log(f"\nwrote {args.json} ({total:.0f} s in all)")
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
