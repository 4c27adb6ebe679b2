"""Faults: kill -9 in the middle of a report, the database going away, a full or read-only disk.

The database outages are real where they can be: new connections are sent to a closed port (PostgreSQL) or an
unopenable file (SQLite), and a PostgreSQL connection in use is killed with pg_terminate_backend. The shared
server is never stopped.
"""
from __future__ import annotations

import builtins
import errno
import gc
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from admin_app import create_app
from admin_app.config import Config
from admin_app.extensions import db
from admin_app.models import Item, User
from admin_app.seed import bulk_insert
from flask_activity.reporting import files, runner
from flask_activity.reporting.definition import ReportDefinition
from flask_activity.reporting.models import ReportRun
from flask_activity.reporting.registry import load_reports
from flask_activity.reporting.scheduler import serve
from flask_activity.testing import free_port
from flask_activity.types import UTC
from tests import factories
from tests.conftest import _config

REPO_ROOT = Path(__file__).resolve().parent.parent
DAY = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
T0 = datetime(2026, 5, 10, 6, 0, tzinfo=UTC)
DOWN = "The database is not answering right now"


def unavailable(reason: str) -> None:
    """Skip for a missing tool or privilege, except under CI, where the check must run."""
    if os.environ.get("CI"):
        pytest.fail(f"CI requires this check to run: {reason}")
    pytest.skip(reason)


def fake(name: str = "fake", rows: Any = None, schedule: str | None = None) -> ReportDefinition:
    return ReportDefinition(name=name, title=name.title(), description="a test report", columns=("name", "value"),
                            rows=rows or (lambda ctx: [("a", 1)]), schedule=schedule)


def files_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def committed_runs(name: str | None = None) -> list[ReportRun]:
    db.session.remove()  # see what other connections and processes committed
    stmt = select(ReportRun).order_by(ReportRun.period_start, ReportRun.id)
    return list(db.session.scalars(stmt.where(ReportRun.report == name) if name else stmt))


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    """Engine options as in production: conftest's PostgreSQL options replace them and drop pool_pre_ping,
    which is what replaces connections a database restart (or outage) killed."""
    options = _config(database_url).get("SQLALCHEMY_ENGINE_OPTIONS") or {}
    return {"SQLALCHEMY_ENGINE_OPTIONS": {**Config.SQLALCHEMY_ENGINE_OPTIONS, **options},
            "REPORT_CHUNK_SIZE": 3}  # many chunks: a kill or a full disk lands between them


# --- a database that stops answering ------------------------------------------------------------------------------


class Outage:
    """While on, ``engine``'s database is gone: new connections go to a closed port or an unopenable file and
    are refused by the driver itself, pooled ones are discarded at checkout, and connections in use break
    (PostgreSQL: their backends are terminated; SQLite: each statement meets the I/O error SQLite would report).
    """

    def __init__(self, engine: Engine, tmp_path: Path) -> None:
        self.engine, self.on, self.sqlite = engine, False, engine.dialect.name == "sqlite"
        self.port, self.nowhere = free_port(), str(tmp_path / "no-such-folder" / "app.db")

    def _connect(self, dialect: Any, record: Any, cargs: list, cparams: dict) -> None:
        if self.sqlite:
            cargs[:] = [self.nowhere]
        else:
            cparams.update(host="127.0.0.1", port=self.port)

    def _checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        raise DisconnectionError("database outage (test)")  # the pool then reconnects, through _connect

    def _io_error(self, *args: Any) -> None:
        raise self.engine.dialect.loaded_dbapi.OperationalError("disk I/O error")

    def start(self) -> None:
        if self.on:
            return
        event.listen(self.engine, "do_connect", self._connect)
        event.listen(self.engine, "checkout", self._checkout)
        if self.sqlite:
            event.listen(self.engine, "before_cursor_execute", self._io_error)
        else:
            terminate_backends(self.engine)
        self.on = True

    def stop(self) -> None:
        if self.on:
            event.remove(self.engine, "do_connect", self._connect)
            event.remove(self.engine, "checkout", self._checkout)
            if self.sqlite:
                event.remove(self.engine, "before_cursor_execute", self._io_error)
            self.on = False

    def __enter__(self) -> Outage:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def terminate_backends(engine: Engine, pid: int | None = None) -> None:
    """End PostgreSQL backends of the engine's database (all but ours, or one) and wait until they are gone."""
    admin = create_engine(engine.url, poolclass=NullPool)
    which = "pid = :pid" if pid else "datname = current_database() AND pid <> pg_backend_pid()"
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE {which}"),
                     {"pid": pid} if pid else {})
    admin.dispose()


@pytest.fixture
def outage(app, tmp_path: Path):
    db.session.remove()  # the test's own reads end here: the outage is for the code under test
    out = Outage(db.engine, tmp_path)
    yield out
    out.stop()
    try:
        db.session.remove()
    except SQLAlchemyError:  # its connection was terminated: it cannot even roll back, so close it as it is
        db.session().invalidate()
        db.session.registry.clear()


def kill_connection(engine: Engine, dbapi_conn: Any) -> None:
    """Lose a connection in use: PostgreSQL ends its backend for real; SQLite reports the I/O error it would."""
    if engine.dialect.name == "postgresql":
        terminate_backends(engine, dbapi_conn.info.backend_pid)
    else:
        raise engine.dialect.loaded_dbapi.OperationalError("disk I/O error")


def assert_no_details_leak(body: str) -> None:
    for leak in ("Traceback", "OperationalError", "psycopg", "sqlite3", "SELECT", "127.0.0.1", "no-such-folder"):
        assert leak not in body, leak


ADMIN_PAGES = ["/admin/", "/admin/activity/", "/admin/items/", "/admin/reports/", "/admin/activity/export.csv",
               "/admin/activity/feed.json"]


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_database_down_during_a_request_is_a_503_with_a_message_and_no_traceback(viewer_client, outage, url):
    with outage:
        r = viewer_client.get(url)
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
    body = r.get_data(as_text=True)
    if url.endswith(".json"):
        assert r.is_json and DOWN in r.get_json()["error"]
    else:
        assert r.mimetype == "text/html" and "503" in body and DOWN in body
    assert_no_details_leak(body)
    assert viewer_client.get(url).status_code == 200  # the database is back: so is the page


def test_login_while_the_database_is_down_is_a_503_page(client, viewer_user, outage):
    token = client.csrf()
    with outage:
        r = client.post("/login", data={"email": "viewer@example.com", "password": "correct-horse-battery",
                                        "csrf_token": token})
    assert r.status_code == 503 and DOWN in r.get_data(as_text=True)
    assert_no_details_leak(r.get_data(as_text=True))


@pytest.mark.parametrize("url", ["/admin/", "/admin/activity/", "/admin/activity/feed.json"])
def test_connection_lost_in_the_middle_of_a_request_is_a_503(app, viewer_client, url):
    engine, lost = db.engine, []

    def lose(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not lost and "UNION ALL" in statement:  # after the login was checked: the feed query itself
            lost.append(statement)
            kill_connection(engine, conn.connection.dbapi_connection)

    event.listen(engine, "before_cursor_execute", lose)
    try:
        r = viewer_client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", lose)
    assert lost, "the request never reached the feed query"
    assert r.status_code == 503
    body = r.get_data(as_text=True)
    assert DOWN in (r.get_json()["error"] if r.is_json else body)
    assert_no_details_leak(body)
    assert viewer_client.get(url).status_code == 200  # the pool dropped the dead connection


@pytest.mark.parametrize("idle", [0.2, 60.0])
def test_a_restart_while_connections_wait_in_the_pool(database_url: str, backend: str, idle: float) -> None:
    """DATABASE_PING_IDLE: a pooled connection idle that long is pinged at checkout, so a database restart is not
    seen by the next request; one used moments ago is not pinged: its request gets the 503, the next one works."""
    if backend != "postgresql":
        pytest.skip("a SQLite connection cannot be ended from outside")
    app = create_app({**_config(database_url), "DATABASE_PING_IDLE": idle})
    app.add_url_rule("/test/users", "test_users", lambda: str(db.session.scalar(select(func.count(User.id)))))
    client = app.test_client()
    assert client.get("/test/users").status_code == 200
    with app.app_context():
        terminate_backends(db.engine)  # what a restart does to the pooled connection
    time.sleep(0.3)
    answers = [client.get("/test/users").status_code for _ in range(2)]
    with app.app_context():
        db.engine.dispose()
    assert answers == ([200, 200] if idle < 0.3 else [503, 200])


@pytest.mark.parametrize("args", [["report", "run", "activity", "--period", "yesterday"],
                                  ["report", "schedule", "--once"], ["report", "history"], ["activity"]])
def test_cli_with_the_database_down_exits_2_with_one_line(runner, reports_dir, outage, args):
    with outage:
        result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database error:"), result.output


def test_reports_database_unreachable_fails_the_run_with_the_message(app, database_url, backend, reports_dir,
                                                                    tmp_path):
    unreachable = (f"sqlite:///{tmp_path / 'no-such-folder' / 'replica.db'}" if backend == "sqlite"
                   else f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/replica")
    reader = create_app({**_config(database_url), "REPORTS_DATABASE_URL": unreachable,
                         "REPORTS_DIR": str(reports_dir)})
    with reader.app_context():
        try:
            with pytest.raises(runner.ReportFailed) as info:
                runner.run_report(load_reports()["activity"], DAY, DAY + timedelta(days=1))
        finally:
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
    expected = "unable to open database file" if backend == "sqlite" else "Connection refused"
    assert str(info.value).startswith("database error: ") and expected in str(info.value)
    [run] = committed_runs("activity")  # recorded in the main database, which is up
    assert (run.status, run.error) == ("failed", str(info.value)) and run.finished_at
    assert files_in(reports_dir) == []


def test_connection_lost_while_a_report_reads_fails_the_run_with_the_message(app, backend, reports_dir,
                                                                            admin_user):
    if backend != "postgresql":
        pytest.skip("a SQLite file has no server connection to lose (its unopenable file is tested above)")
    bl = factories.bucketlist(admin_user)
    factories.bulk_items(bl, 12, DAY + HOUR, step=timedelta(seconds=1))
    chunks = []

    def progress(n: int) -> None:  # after the first chunk is on disk, the reader's backend is killed
        chunks.append(n)
        if len(chunks) == 1:
            kill_connection(db.engine, reading[0])

    reading: list[Any] = []

    def rows_query(ctx: Any) -> Any:
        reading.append(ctx.session.connection().connection.dbapi_connection)
        return select(Item.id, Item.title).order_by(Item.id)  # a server-side cursor, fetched chunk by chunk

    defn = ReportDefinition(name="items-by-id", title="t", description="d", columns=("id", "title"),
                            query=rows_query)
    run = runner.start_run(defn, DAY, DAY + timedelta(days=1), {})
    with pytest.raises(runner.ReportFailed, match="database error: "):
        runner.execute(run, defn, progress=progress)
    [row] = committed_runs("items-by-id")
    assert row.status == "failed" and ("terminat" in row.error or "closed" in row.error), row.error
    assert len(chunks) == 1 and files_in(reports_dir) == []


# --- the scheduler through an outage (injected clock and sleep) ---------------------------------------------------


def seed_claimed(defn: ReportDefinition, end: datetime) -> None:
    db.session.add(ReportRun(report=defn.name, params={}, period_start=end - HOUR, period_end=end,
                             scheduled_for=end, status="succeeded", rows=0, started_at=end, finished_at=end))
    db.session.commit()


def drive(defn: ReportDefinition, plan: list[tuple[datetime, bool]], start: datetime, outage: Outage
          ) -> tuple[list[float], list[str]]:
    """serve() with a clock that each wait moves to the next (time, database down?) of ``plan``; then stop."""
    clock, stop, waits, lines = [start], threading.Event(), [], []
    steps = iter(plan)

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        step = next(steps, None)
        if step is None:
            stop.set()
            return
        clock[0] = step[0]
        (outage.start if step[1] else outage.stop)()

    serve([defn], stop, clock=lambda: clock[0], sleep=sleep, on_run=lambda r: lines.append(r.status))
    outage.stop()
    return waits, lines


def test_scheduler_runs_the_period_that_fell_due_in_an_outage_once_the_database_is_back(app, reports_dir, outage,
                                                                                       caplog):
    defn = fake(schedule="0 * * * *")
    seed_claimed(defn, T0)
    f1, f2 = T0 + HOUR, T0 + 2 * HOUR
    plan = [(f1, True), (f1 + timedelta(seconds=30), True), (f1 + timedelta(seconds=60), False), (f2, False)]
    with caplog.at_level(logging.ERROR, logger="flask_activity.reporting.scheduler"):
        waits, lines = drive(defn, plan, f1 - timedelta(seconds=10), outage)
    assert waits[:3] == [10.0, 30.0, 30.0]  # down at F1: retried every 30 s, not at the next fire time
    assert sum("scheduler tick failed" in r.getMessage() for r in caplog.records) == 2
    got = [(r.period_start, r.period_end, r.status) for r in committed_runs("fake")]
    assert got == [(T0 - HOUR, T0, "succeeded"), (T0, f1, "succeeded"), (f1, f2, "succeeded")]
    assert lines == ["succeeded", "succeeded"]


def test_scheduler_records_a_run_whose_outcome_the_outage_swallowed_and_goes_on(app, reports_dir, outage):
    first = []

    def rows(ctx: Any) -> list:
        if not first:  # the database goes away while the first run writes its file
            first.append(ctx.since)
            outage.start()
        return [("a", 1)]

    defn = fake(rows=rows, schedule="0 * * * *")
    seed_claimed(defn, T0)
    f1, f2 = T0 + HOUR, T0 + 2 * HOUR
    drive(defn, [(f1 + timedelta(seconds=30), False), (f2, False)], f1, outage)
    runs = committed_runs("fake")[1:]
    assert [(r.period_end, r.status) for r in runs] == [(f1, "failed"), (f2, "succeeded")]
    assert runs[0].error.startswith("the outcome of the run could not be recorded: database error: ")
    assert runs[0].finished_at is not None


# --- kill -9 in the middle of a report, twenty times ---------------------------------------------------------------

KILLS = 20
KILL_ITEMS = 30_000  # ~41k events, ~3 MB of CSV in ~16 pieces: kill points are chosen by bytes written
KILL_SINCE, KILL_UNTIL = "2026-01-01", "2026-02-01"
KILL_CAP_S = 40  # a hung report fails the test instead of hanging the run

# A fork server: imports manage.py and the modules it loads once, then forks one child per `report run`, each a
# real process running manage.py's command line with the same arguments (its app, engine and connections are its
# own: none exist before the fork). It saves the ~1.5 s of CPU a fresh interpreter spends importing, 19 times.
FORK_SERVER = textwrap.dedent("""
    import importlib, json, os, sys, traceback
    import manage

    # what `report run` imports on its way (~0.4 s): each child still creates its own app, engine and connections
    for name in ("flask_admin", "apscheduler.triggers.cron", "prometheus_client", "sqlite3", "psycopg", "reports",
                 "admin_app.admin", "flask_activity.metrics", "flask_activity.cli.reports",
                 "flask_activity.reporting.scheduler"):
        importlib.import_module(name)
    importlib.import_module("flask_activity.reporting.registry").load_reports()

    def child(args, err):
        fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.dup2(fd, 2)
        code = 1
        try:
            manage.cli.main(args=args, prog_name="manage.py")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)

    for line in sys.stdin:
        verb, arg = line.split(" ", 1)
        if verb == "run":
            request = json.loads(arg)
            pid = os.fork()
            if pid == 0:
                child(request["args"], request["err"])
            answer = pid
        else:  # wait or poll (the server reaps its children: a zombie would still look alive to the runner)
            pid, status = os.waitpid(int(arg), 0 if verb == "wait" else os.WNOHANG)
            answer = os.waitstatus_to_exitcode(status) if pid else "running"
        print(answer, flush=True)
""")


class ForkServer:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.logs = logs
        self.proc = subprocess.Popen([sys.executable, "-c", FORK_SERVER], cwd=REPO_ROOT, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def start(self, args: list[str]) -> Forked:
        err = self.logs / f"child-{time.monotonic_ns()}.err"
        return Forked(self, int(self.ask("run " + json.dumps({"args": args, "err": str(err)}))), err)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


class Forked:
    """A forked `manage.py` process, with the part of Popen's interface the test uses."""

    def __init__(self, server: ForkServer, pid: int, err: Path) -> None:
        self.server, self.pid, self.err, self.returncode = server, pid, err, None

    def poll(self) -> int | None:
        if self.returncode is None:
            answer = self.server.ask(f"poll {self.pid}")
            self.returncode = None if answer == "running" else int(answer)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = int(self.server.ask(f"wait {self.pid}"))
        return self.returncode

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def errors(self) -> str:
        return self.err.read_text() if self.err.exists() else ""


def seed_history(owner: User, n: int) -> None:
    """n items 40 s apart from 1 January 2026, in one bulk insert: a third updated, one in 20 deleted."""
    bl, base, rows = factories.bucketlist(owner), datetime(2026, 1, 1, tzinfo=UTC), []
    for i in range(n):
        created = base + timedelta(seconds=40 * i)
        updated = created + timedelta(minutes=5) if i % 3 == 0 else created
        deleted = created + timedelta(minutes=7) if i % 20 == 0 else None
        rows.append(dict(bucketlist_id=bl.id, title=f"Item {i}", done=False, due_date=None, created_at=created,
                         updated_at=deleted or updated, deleted_at=deleted, created_by_id=owner.id,
                         updated_by_id=owner.id))
    bulk_insert(Item, rows)  # COPY on PostgreSQL: a few hundred thousand rows in seconds
    db.session.commit()


def _run_id(tmp: Path) -> int:
    return int(tmp.name[: -len(".tmp")].rsplit(".", 1)[-1])


def test_kill_9_at_twenty_random_points_mid_report_leaves_no_partial_file_and_twenty_failed_runs(
        app, database_url, reports_dir, admin_user, tmp_path):
    started = time.monotonic()
    app.config["REPORT_CHUNK_SIZE"] = 10_000  # as in production (the fixture's 3 is for tiny data)
    seed_history(admin_user, KILL_ITEMS)
    complete = tmp_path / "complete.csv"  # the whole report, written once outside REPORTS_DIR: its size
    activity = load_reports()["activity"]
    full_id = runner.run_report(activity, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC),
                                out=complete).id
    full_size = complete.stat().st_size
    seeded = time.monotonic() - started
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "APP_ENV", "DATABASE_URL")}
    env.update(DATABASE_URL=database_url, REPORTS_DIR=str(reports_dir), INSTANCE_DIR=str(tmp_path / "instance"))
    args = ["report", "run", "activity", "--since", KILL_SINCE, "--until", KILL_UNTIL]
    rng = random.Random(6)
    # a quarter killed as soon as the file exists (nothing written yet), the rest anywhere in the first 80%
    targets = [0 if i % 4 == 1 else int(full_size * rng.uniform(0.01, 0.8)) for i in range(KILLS)]
    folder = reports_dir / "activity"
    killed: list[tuple[int, int, int]] = []  # (pid, run id, bytes written when killed)
    deadline = started + KILL_CAP_S
    server = ForkServer(env, tmp_path)

    def wait(what: str, proc: Any, check: Any) -> Any:
        while True:
            found = check()
            if found:
                return found
            if proc.poll() is not None:
                errors = proc.errors() if isinstance(proc, Forked) else proc.stderr.read()
                pytest.fail(f"{what}: the report ended first (exit {proc.returncode}): {errors}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {KILL_CAP_S} s ({len(killed)} kills done)")
            time.sleep(0.002)

    def new_tmp() -> Path | None:
        seen = {run_id for _, run_id, _ in killed}
        return next((p for p in folder.glob(".*.tmp") if _run_id(p) not in seen), None) if folder.exists() else None

    def written(tmp: Path, target: int) -> bool:
        try:
            return tmp.stat().st_size >= target
        except FileNotFoundError:
            return False

    try:
        for i, target in enumerate(targets):
            if i == 0:  # the first from a fresh interpreter, exactly as an operator runs it
                proc: Any = subprocess.Popen([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            else:
                proc = server.start(args)
            try:
                tmp = wait(f"kill {i + 1}: the run's temporary file", proc, new_tmp)
                if killed:  # this start cleaned up after the previous kill before it began its own run
                    pid, run_id, _ = killed[-1]
                    assert [p for p in folder.glob(".*.tmp") if _run_id(p) == run_id] == [], "orphan temp file"
                    db.session.remove()
                    before = db.session.get(ReportRun, run_id)
                    assert before.status == "failed" and f"pid {pid}" in before.error, (before.status, before.error)
                wait(f"kill {i + 1}: {target} bytes written", proc,
                     lambda tmp=tmp, target=target: written(tmp, target))
                proc.send_signal(signal.SIGKILL)
                assert proc.wait(10) == -signal.SIGKILL  # killed, not finished
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
                if isinstance(proc, subprocess.Popen):
                    proc.stderr.close()
            size = tmp.stat().st_size
            killed.append((proc.pid, _run_id(tmp), size))
            leftovers = [p for p in files_in(reports_dir) if not p.name.endswith(".tmp")]
            assert leftovers == [], f"kill {i + 1}: a file under a final name: {leftovers}"
            db.session.remove()
            assert db.session.get(ReportRun, _run_id(tmp)).status == "running"  # as the dead process left it
    finally:
        server.close()

    stop = threading.Event()
    stop.set()
    serve([], stop)  # the scheduler's start-up: the last kill's run and file
    orphans = files_in(reports_dir)
    runs = {r.id: r for r in committed_runs("activity") if r.id != full_id}
    failed = [r for r in runs.values() if r.status == "failed" and "stopped before it finished" in r.error]
    mid_write = [size for _, _, size in killed if size > len(",".join(activity.columns)) + 2]
    print(f"\n{KILLS} kills mid-report ({len(mid_write)} mid-write, up to "
          f"{max(s for _, _, s in killed) / full_size:.0%} of {full_size:,} bytes): 0 partial files, "
          f"{len(orphans)} orphans, {len(failed)} failed rows, in {time.monotonic() - started:.1f} s "
          f"({seeded:.1f} s seeding and a complete run)")
    assert orphans == []
    assert sorted(runs) == sorted(run_id for _, run_id, _ in killed) and len(failed) == KILLS
    assert all(f"pid {pid}" in runs[run_id].error for pid, run_id, _ in killed)
    assert all(size < full_size for _, _, size in killed) and len(mid_write) >= KILLS // 2


# --- a full or read-only disk ----------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 64 KiB tmpfs mounted for the test (root and CAP_SYS_ADMIN needed)."""
    if shutil.which("mount") is None or shutil.which("umount") is None:
        unavailable("no mount/umount command to make a small disk")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs in this sandbox: {done.stderr.strip() or done.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def big_rows(ctx: Any) -> Any:
    return (("x" * 100, i) for i in range(2_000))  # ~210 KB: more than the disk holds


def test_full_disk_fails_the_run_with_the_message_and_leaves_no_file(app, small_disk):
    app.config["REPORTS_DIR"] = str(small_disk / "reports")
    with pytest.raises(runner.ReportFailed) as info:
        runner.run_report(fake(rows=big_rows), DAY, DAY + timedelta(days=1))
    assert str(info.value) == f"cannot write to {small_disk / 'reports' / 'fake'}: No space left on device"
    [run] = committed_runs("fake")
    assert (run.status, run.error) == ("failed", str(info.value))
    assert files_in(small_disk) == []  # neither the final name nor the temporary file
    ok = runner.run_report(fake(), DAY, DAY + timedelta(days=2))  # the space came back
    assert ok.status == "succeeded"


def test_read_only_reports_folder_fails_the_run_with_one_line_and_leaves_no_file(app, runner_cli, small_disk):
    reports = small_disk / "reports"
    (reports / "activity").mkdir(parents=True)
    app.config["REPORTS_DIR"] = str(reports)
    done = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, text=True)
    if done.returncode != 0:
        unavailable(f"cannot remount the tmpfs read-only: {done.stderr.strip()}")
    result = runner_cli.invoke(args=["report", "run", "activity", "--period", "yesterday"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"cannot write to {reports / 'activity'}: Read-only file system")
    [run] = committed_runs("activity")
    assert run.status == "failed" and run.error.endswith("Read-only file system")
    assert files_in(small_disk) == []


@pytest.fixture
def runner_cli(app):
    return app.test_cli_runner()


class _FailingFile:
    """A real file whose second write fails with ``err`` (the first, the header and a chunk, lands)."""

    def __init__(self, path: Any, mode: str, err: int) -> None:
        # stands in for the writer's own open(): the writer closes it, as it would the real file
        self.raw, self.err, self.writes = builtins.open(path, mode), err, 0  # noqa: SIM115

    def write(self, data: bytes) -> int:
        self.writes += 1
        if self.writes == 2:
            raise OSError(self.err, os.strerror(self.err))
        return self.raw.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


@pytest.mark.parametrize("step, err", [
    ("open", errno.EROFS), ("open", errno.ENOSPC), ("write", errno.ENOSPC), ("write", errno.EIO),
    ("fsync", errno.ENOSPC), ("fsync", errno.EIO), ("replace", errno.EROFS), ("replace", errno.ENOSPC),
])
@pytest.mark.parametrize("gzip", [False, True], ids=["csv", "gzip"])
def test_disk_error_at_any_step_is_a_failed_run_naming_it_and_leaves_no_file(app, reports_dir, monkeypatch,
                                                                           step, err, gzip):
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(err, os.strerror(err))

    if step == "open":
        monkeypatch.setattr(files, "open", fail, raising=False)
    elif step == "write":
        monkeypatch.setattr(files, "open", lambda path, mode: _FailingFile(path, mode, err), raising=False)
    else:
        monkeypatch.setattr(os, step, fail)
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    many = fake(rows=lambda ctx: [(f"row {i}", i) for i in range(10)])  # several chunks of 3
    with pytest.raises(runner.ReportFailed) as info:
        runner.run_report(many, DAY, DAY + timedelta(days=1), gzip=gzip)
    message = str(info.value)
    del info  # frees the failed run's frames: a half-written gzip stream must not try to finish itself then
    gc.collect()
    expected = f"cannot write to {reports_dir / 'fake'}: {os.strerror(err)}"
    assert message == expected
    [run] = committed_runs("fake")
    assert (run.status, run.error) == ("failed", expected) and run.path is None
    assert files_in(reports_dir) == [] and unraisable == []
