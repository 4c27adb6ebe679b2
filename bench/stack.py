"""The app under concurrency against the bare stack, side by side in one run (issue 18's measurements).

    .venv/bin/python -m bench.stack [--db sqlite|postgresql|both] [--size 1000000] [--seconds 10]

For each database (the cached seeded one of ``--size`` items, made on first use):

0. **CPU per request** (``--parts cpu``): one feed.json in process, bare stack and app, through test clients.
1. **feed.json: app vs bare stack.** The bare stack (``bench/bare_stack.py``: Flask + the driver, no login, ORM or
   Flask-Admin) serves the app's own first-page statement, compiled here from the query layer. Both run under
   gunicorn with the same workers and threads; wrk (1 thread, ``--connections``) runs against each in turn, and
   the ratio app/bare is printed. Then the app again while a writer process updates items (errors, "database is
   locked").
2. **The dashboard** under the same load (warm), with the shared counts refreshed first as the scheduler would.
3. **The documented server**: ``manage.py run`` with 1 worker and with one per core, feed.json under wrk.
4. **Cold first request**: a fresh one-worker server, logged in, then the first dashboard and the first feed.json
   it serves (what a process compiles or counts on its first request), best of ``--cold`` starts; each start with
   the shared counts table just refreshed and with ``DASHBOARD_COUNTS_REFRESH=0`` (the process counts the chart).

Results print as a table and go to bench/results-stack.json (``--json`` elsewhere).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import PY, ROOT, children, datasets
from bench.sections.load import run_wrk
from bench.server import BenchServer
from flask_activity.testing import LiveServer

WORKERS, THREADS = 2, 4


#: What a run measures (--parts): the CPU time of one feed.json in process, app and bare stack; feed.json and the
#: dashboard against the bare stack under wrk, with and without a writer; manage.py run with 1 worker and one per
#: core; the first requests of fresh servers.
PARTS = ("cpu", "feed", "server", "cold")
CPU_BATCH, CPU_BATCHES = 200, 7


def first_page_sql(url: str, data_dir: Path) -> str:
    """The query layer's first-page statement for the unfiltered feed (limit 51), as SQL text for ``url``'s
    database: exactly what the app runs for /admin/activity/feed.json."""
    from admin_app import create_app
    from admin_app.extensions import db
    from flask_activity.activity import ActivityFilter
    from flask_activity.activity.events import branches
    from flask_activity.activity.statements import page_select

    app = create_app(datasets.app_config(url, data_dir))
    with app.app_context():
        shape = tuple((n, a) for n, _, a in branches(ActivityFilter()))
        stmt = page_select(shape, False, False, None, None).params(limit=51)
        sql = str(stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
        db.engine.dispose()
    return sql


class BareServer(LiveServer):
    """gunicorn serving bench.bare_stack with the same workers and threads as the app's server (no login)."""

    def __init__(self, url: str, sql_file: Path, work: Path) -> None:
        env = {**os.environ, "BARE_DB_URL": url, "BARE_SQL_FILE": str(sql_file), "PYTHONPATH": str(ROOT)}
        super().__init__(env, work / "bare.log", workers=WORKERS, threads=THREADS, app="bench.bare_stack:create_app()",
                         cwd=ROOT, ready_path="/feed.json")


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the most requests per second. With few keep-alive connections the kernel may hand most of
    them to one worker (wrk's 4 over 2 workers: 4-0 one time in 8), which only ever lowers a figure; the best
    round is the one where the connections were spread, for either stack. Errors are summed over every round."""
    top = dict(max(runs, key=lambda r: r["requests_per_s"] or 0))
    top["errors"] = sum(r["errors"] for r in runs)
    return top


def brief(res: dict[str, Any]) -> str:
    return (f"{res['requests_per_s'] or 0:8.1f} req/s  p50 {res['p50_ms']} ms  p99 {res['p99_ms']} ms  "
            f"errors {res['errors']}")


def feed_vs_bare(ds: datasets.Dataset, data_dir: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sql_file = work / "first_page.sql"
    sql_file.write_text(first_page_sql(ds.url, data_dir))
    out: dict[str, Any] = {"server": f"gunicorn {WORKERS} workers x {THREADS} threads (gthread)",
                           "wrk": f"1 thread, {args.connections} connections, {args.seconds} s"}
    out["refresh_ms"] = refresh_shared_counts(ds, data_dir)  # the scheduler's work: the dashboard reads the table
    bare = BareServer(ds.url, sql_file, work)
    try:
        app = BenchServer(ds, data_dir, work)
    except BaseException:
        bare.stop()
        raise
    try:
        for server, path in ((bare, "/feed.json"), (app, "/admin/activity/feed.json"), (app, "/admin/")):
            run_wrk(server, path, 2, work, args.connections)  # warm each the same way
        rounds: dict[str, list[dict[str, Any]]] = {"bare": [], "app": [], "dashboard": []}
        for _ in range(args.rounds):  # interleaved, so a slow moment of the machine hits both
            rounds["bare"].append(run_wrk(bare, "/feed.json", args.seconds, work, args.connections))
            rounds["app"].append(run_wrk(app, "/admin/activity/feed.json", args.seconds, work, args.connections))
            rounds["dashboard"].append(run_wrk(app, "/admin/", args.seconds, work, args.connections))
        bare.stop()
        for name, runs in rounds.items():
            out[name] = best(runs)
            out[f"{name}_rounds"] = [r["requests_per_s"] for r in runs]
        duration = args.seconds + 4
        writer = subprocess.Popen(children.command("writer", ds.url, str(data_dir), str(duration), str(ds.items)),
                                  env=datasets.app_env(ds.url, data_dir), cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        out["app_with_writer"] = run_wrk(app, "/admin/activity/feed.json", args.seconds, work, args.connections)
        wout, werr = writer.communicate(timeout=duration + 60)
        try:
            out["writer"] = json.loads(wout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            out["writer"] = {"failed": werr[-800:]}
        out["server_log"] = app.log_counts()
    finally:
        bare.stop()
        app.stop()
    bare_rps, app_rps = out["bare"]["requests_per_s"] or 0, out["app"]["requests_per_s"] or 0
    out["ratio_app_to_bare"] = round(app_rps / bare_rps, 3) if bare_rps else None
    return out


def cpu_per_request(ds: datasets.Dataset, data_dir: Path, work: Path) -> dict[str, Any]:
    """The CPU time one feed.json costs in process, through Flask's test client: the bare stack's and the app's
    (logged in), in interleaved batches of CPU_BATCH, the least of CPU_BATCHES batches kept. Other processes
    barely move a process's CPU time, so this is the steadiest ratio on a busy machine; it leaves out the server,
    the network and the database server's own time (PostgreSQL's round trips show in the wall time)."""
    from admin_app import create_app
    from bench.bare_stack import create_app as create_bare
    from bench.server import test_client_login

    sql_file = work / "cpu_first_page.sql"
    sql_file.write_text(first_page_sql(ds.url, data_dir))
    saved = {k: os.environ.get(k) for k in ("BARE_DB_URL", "BARE_SQL_FILE")}
    os.environ.update(BARE_DB_URL=ds.url, BARE_SQL_FILE=str(sql_file))
    try:
        bare = create_bare().test_client()
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    app = test_client_login(create_app(datasets.app_config(ds.url, data_dir)))

    def batch(client: Any, path: str) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(CPU_BATCH):
            if client.get(path).status_code != 200:
                raise RuntimeError(f"{path}: not a 200")
        return ((time.process_time() - cpu) * 1000 / CPU_BATCH, (time.perf_counter() - wall) * 1000 / CPU_BATCH)

    runs: dict[str, list[tuple[float, float]]] = {"bare": [], "app": []}
    for n in range(CPU_BATCHES + 1):  # the first round warms both up and is not kept
        for name, client, path in (("bare", bare, "/feed.json"), ("app", app, "/admin/activity/feed.json")):
            measured = batch(client, path)
            if n:
                runs[name].append(measured)
    out: dict[str, Any] = {name: {"cpu_ms": round(min(r[0] for r in got), 3),
                                  "wall_ms": round(min(r[1] for r in got), 3)} for name, got in runs.items()}
    out["ratio_cpu"] = round(out["bare"]["cpu_ms"] / out["app"]["cpu_ms"], 3)
    out["ratio_wall"] = round(out["bare"]["wall_ms"] / out["app"]["wall_ms"], 3)
    return out


def documented_server(ds: datasets.Dataset, data_dir: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """``manage.py run`` (waitress) with 1 worker and with one per core: feed.json under wrk."""
    out: dict[str, Any] = {}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    for workers in sorted({1, cores}):
        server = BenchServer(ds, data_dir, work, command=[PY, "manage.py", "run", "--port", "{port}",
                                                          "--workers", str(workers)])
        try:
            run_wrk(server, "/admin/activity/feed.json", 2, work, args.connections)
            out[f"{workers} worker{'s' if workers > 1 else ''}"] = best(
                [run_wrk(server, "/admin/activity/feed.json", args.seconds, work, args.connections)
                 for _ in range(args.rounds)])
        finally:
            server.stop()
    return out


def refresh_shared_counts(ds: datasets.Dataset, data_dir: Path) -> float:
    """What the scheduler does every DASHBOARD_COUNTS_REFRESH seconds: ``manage.py activity counts``; its ms."""
    env = {**os.environ, **datasets.app_env(ds.url, data_dir)}
    done = subprocess.run([PY, "manage.py", "activity", "counts"], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=1800)
    return float(done.stdout.rsplit(" in ", 1)[1].split(" ms")[0].replace(",", ""))


def cold_first_requests(ds: datasets.Dataset, data_dir: Path, args: argparse.Namespace,
                        work: Path) -> dict[str, Any]:
    """Best and worst of ``--cold`` fresh one-worker servers, gunicorn and ``manage.py run``: the first dashboard
    and the first feed.json each serves, ms. Each start is measured twice, alternately: with the shared counts
    table just refreshed (what a deployment with the scheduler serves) and with DASHBOARD_COUNTS_REFRESH=0 (the
    process counts the chart's 30 days itself); and what each refresh took."""
    out: dict[str, Any] = {"refresh_ms": []}
    for name, command in (("gunicorn", None), ("manage.py run", [PY, "manage.py", "run", "--port", "{port}",
                                                                  "--workers", "1"])):
        figures: dict[str, dict[str, list[float]]] = {way: {"dash": [], "feed": []} for way in ("shared", "own")}
        for _ in range(args.cold):
            for way in ("shared", "own"):
                if way == "shared":
                    out["refresh_ms"].append(refresh_shared_counts(ds, data_dir))
                extra = {"DASHBOARD_COUNTS_REFRESH": "0"} if way == "own" else {}
                server = BenchServer(ds, data_dir, work, workers=1, command=command, extra_env=extra)
                try:
                    for path, into in (("/admin/", figures[way]["dash"]),
                                       ("/admin/activity/feed.json", figures[way]["feed"])):
                        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                        started = time.perf_counter()
                        status, _, _ = server.request("GET", path, conn=conn)
                        into.append(round((time.perf_counter() - started) * 1000, 1))
                        conn.close()
                        if status != 200:
                            raise RuntimeError(f"{path}: HTTP {status}")
                finally:
                    server.stop()
        out[name] = {
            "first_dashboard_ms": spread(figures["shared"]["dash"]),
            "first_dashboard_own_count_ms": spread(figures["own"]["dash"]),
            "first_feed_json_ms": spread(figures["shared"]["feed"] + figures["own"]["feed"])}
    return out


def spread(values: list[float]) -> dict[str, float]:
    return {"best": min(values), "worst": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--size", type=int, default=1_000_000, help="items in the seeded database (default 1M)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration of each figure (default 10)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved wrk rounds per figure; the best is kept")
    parser.add_argument("--cold", type=int, default=3, help="fresh servers for the first-request figure")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"which measurements, comma-separated (default all: {','.join(PARTS)})")
    parser.add_argument("--data-dir", type=Path, default=datasets.DEFAULT_DATA_DIR)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results-stack.json")
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or set(parts) - set(PARTS):
        sys.exit(f"error: --parts takes some of {','.join(PARTS)}, not {args.parts!r}")
    if not shutil.which("wrk"):
        sys.exit("error: wrk is not installed (apt-get install -y wrk, or make bench-tools)")
    results: dict[str, Any] = {"size": args.size, "cores": os.cpu_count()}
    for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        print(f"== {kind}, {args.size:,} items")
        ds = datasets.ensure(kind, args.size, args.data_dir)
        datasets.prepare(ds, args.data_dir)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            res: dict[str, Any] = {}
            if "feed" in parts:
                res.update(feed_vs_bare(ds, args.data_dir, args, work))
                print(f"  bare stack feed.json   {brief(res['bare'])}   rounds {res['bare_rounds']}")
                print(f"  app feed.json          {brief(res['app'])}   ratio app/bare {res['ratio_app_to_bare']}   "
                      f"rounds {res['app_rounds']}")
                print(f"  app feed.json + writer {brief(res['app_with_writer'])}   "
                      f"locked: {res['server_log'].get('database_is_locked', 0)} in the server log, "
                      f"{res['writer'].get('locked', '?')} in the writer")
                print(f"  dashboard              {brief(res['dashboard'])}   rounds {res['dashboard_rounds']}")
            if "cpu" in parts:
                res["cpu"] = cpu = cpu_per_request(ds, args.data_dir, work)
                print(f"  in process, one feed.json: bare {cpu['bare']['cpu_ms']} ms CPU ({cpu['bare']['wall_ms']} ms "
                      f"wall), app {cpu['app']['cpu_ms']} ms CPU ({cpu['app']['wall_ms']} ms wall): ratio "
                      f"{cpu['ratio_cpu']} CPU, {cpu['ratio_wall']} wall")
            if "server" in parts:
                res["documented_server"] = documented_server(ds, args.data_dir, args, work)
            for name, fig in res.get("documented_server", {}).items():
                print(f"  manage.py run, {name:9} feed.json {brief(fig)}")
            if "cold" in parts:
                res["cold"] = cold_first_requests(ds, args.data_dir, args, work)
            for server_name in ("gunicorn", "manage.py run"):
                if server_name in res.get("cold", {}):
                    cold = res["cold"][server_name]
                    print(f"  {server_name}: first dashboard of a fresh worker {cold['first_dashboard_ms']} ms with "
                          f"the shared counts, {cold['first_dashboard_own_count_ms']} ms counting its own; first "
                          f"feed.json {cold['first_feed_json_ms']} ms")
            if "cold" in res:
                print(f"  refreshing the shared counts (manage.py activity counts): {res['cold']['refresh_ms']} ms")
            results[kind] = res
    args.json.write_text(json.dumps(results, indent=2))
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
