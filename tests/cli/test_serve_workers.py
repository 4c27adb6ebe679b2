"""`manage.py run` on every core: N waitress processes on one socket, a dead worker replaced, all stopped together,
and the worker count refused when WEB_CONCURRENCY is not a number."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from admin_app.cli.serve import default_workers, usable_cores
from flask_activity.testing import LiveServer
from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc").exists() or not hasattr(os, "fork"),
                                reason="forked workers and /proc (Linux)")


def workers_of(pid: int) -> set[int]:
    """The child processes of ``pid`` (its workers), from /proc."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in children.read_text().split()} if children.exists() else set()


def cpu_ticks(pid: int) -> int:
    """CPU time a process has used (user + system, in clock ticks), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_until(check, seconds: float = 15) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite),
                        pytest.param("postgresql", marks=pytest.mark.postgresql)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("workers")
    with fresh_database(request.param, tmp_path_factory) as url:
        env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "METRICS_ENABLED", "FLASK_DEBUG",
                                                               "WEB_CONCURRENCY")}
        env.update(DATABASE_URL=url, SECRET_KEY="workers-test-key", INSTANCE_DIR=str(tmp), PYTHONPATH=str(ROOT),
                   RATELIMIT_STORAGE_URI="memory://")
        subprocess.run([sys.executable, "manage.py", "bootstrap"], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        with LiveServer(env, tmp / "server.log", cwd=ROOT,
                        command=[sys.executable, "manage.py", "run", "--port", "{port}", "--workers", "3"]) as live:
            yield live


def test_three_workers_share_the_socket_and_a_dead_one_is_replaced(server: LiveServer) -> None:
    wait_until(lambda: len(workers_of(server.proc.pid)) == 3)
    first = workers_of(server.proc.pid)
    before = {pid: cpu_ticks(pid) for pid in first}
    for _ in range(90):  # a connection each: the kernel hands them to whichever worker accepts first
        status, _headers, _body = server.request("GET", "/login")
        assert status == 200
    busy = {pid for pid in first if cpu_ticks(pid) > before[pid]}
    assert len(busy) >= 2, "the requests were all served by one worker"
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: len(workers_of(server.proc.pid)) == 3 and victim not in workers_of(server.proc.pid))
    assert server.request("GET", "/login")[0] == 200
    assert "starting another" in server.log()
    assert "login limits are counted in each worker's memory" in server.log()  # 3 workers, memory:// limits
    # SIGTERM to the parent alone stops every worker with it
    workers = workers_of(server.proc.pid)
    os.kill(server.proc.pid, signal.SIGTERM)
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server did not stop on SIGTERM; its workers: {workers_of(server.proc.pid)}; "
                    f"log:\n{server.log()[-2000:]}")
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() and
                               "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2] for pid in workers))


def test_the_default_worker_count_is_web_concurrency_else_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert default_workers() == usable_cores() <= len(os.sched_getaffinity(0))
    shared = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379"}
    assert default_workers(shared) == usable_cores()
    # login limits counted in each process's memory: N workers would allow N times the attempts
    assert default_workers({"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}) == 1
    assert default_workers({"RATELIMIT_ENABLED": False, "RATELIMIT_STORAGE_URI": "memory://"}) == usable_cores()
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    assert default_workers() == 5
    monkeypatch.setenv("WEB_CONCURRENCY", "lots")
    assert default_workers() == 0


def test_a_web_concurrency_that_is_not_a_number_is_a_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "WEB_CONCURRENCY": "lots", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "INSTANCE_DIR": str(tmp_path)}
    env.pop("APP_ENV", None)
    done = subprocess.run([sys.executable, "manage.py", "run", "--port", "1"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "WEB_CONCURRENCY must be a whole number of processes, not 'lots'" in done.stderr


def test_a_second_instance_on_a_port_in_use_is_refused_not_sharing_it(server: LiveServer) -> None:
    """The workers listen with SO_REUSEPORT; a second `manage.py run` on their port must not quietly split the
    traffic with them (an old instance left running would go on serving old code)."""
    env = {**os.environ, "DATABASE_URL": "sqlite:////nonexistent/unused.db", "SECRET_KEY": "x"}
    env.pop("APP_ENV", None)
    done = subprocess.run([sys.executable, "manage.py", "run", "--port", str(server.port), "--workers", "2"],
                          env={**env, "INSTANCE_DIR": str(server.log_path.parent)}, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "Address already in use" in done.stderr or "in use" in done.stderr, done.stderr[-800:]


def test_the_server_compiles_every_template_before_it_serves(app) -> None:  # type: ignore[no-untyped-def]
    """Done once in the parent, so each forked worker's first page renders without compiling its templates."""
    from admin_app.cli.serve import precompile_templates

    cache = app.jinja_env.cache
    cache.clear()
    compiled = precompile_templates(app)
    names = {key[1] for key in cache}
    assert compiled >= 20 and {"activity/dashboard.html", "admin/app_base.html", "activity/feed.html"} <= names


def test_the_server_compiles_the_dashboards_statements_before_it_serves(app, admin_client) -> None:  # type: ignore[no-untyped-def]
    """activity.warm_up runs the dashboard's statements once before the workers fork: the first dashboard then
    compiles none of the chart's, the counters', the latest events' or the shared counts' statements itself."""
    from admin_app.cli.serve import compile_statements
    from admin_app.extensions import db
    from flask_activity import activity
    from flask_activity.types import utcnow

    with app.app_context():
        activity.refresh_counts(utcnow())  # the dashboard then reads the shared counts
        cache = db.engine._compiled_cache
        cache.clear()
        compile_statements(app)
        warmed = set(cache)
    assert any("AS term" in str(v) for v in cache.values()), "the chart's day statement was compiled"
    assert admin_client.get("/admin/").status_code == 200
    new = [str(cache[k]) for k in cache if k not in warmed]
    own = ("AS term", "model_rank", "activity_event_counts", "count(*) AS n")
    assert [s[:80] for s in new if any(mark in s for mark in own)] == []


def test_a_database_that_cannot_be_reached_at_start_is_a_note_not_a_failure(capsys) -> None:  # type: ignore[no-untyped-def]
    from admin_app import create_app
    from admin_app.cli.serve import compile_statements

    app = create_app({"TESTING": True, "SECRET_KEY": "x",
                      "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:9/nothing"})
    with app.app_context():
        compile_statements(app)
    err = capsys.readouterr().err
    assert err.startswith("note: the dashboard's statements are compiled on first use: the database said ")
    assert len(err.splitlines()) == 1
