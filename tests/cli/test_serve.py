"""`manage.py run` (waitress) against stalled and oversized clients, through real sockets on a real server.

Sixteen clients that ask for the activity CSV and read nothing must not take the app down: the login page and the
feed keep answering, no database connection stays busy, and each stalled connection is closed after
EXPORT_SEND_TIMEOUT. A body over MAX_CONTENT_LENGTH is refused from its Content-Length, before it is sent.
"""
from __future__ import annotations

import http.client
import os
import re
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, insert, text

from admin_app import create_app
from admin_app.accounts import create_user
from admin_app.cli.serve import listening_socket, waitress_settings
from admin_app.config import TestConfig
from admin_app.extensions import db
from admin_app.models import Bucketlist, Item
from flask_activity.testing import LiveServer
from flask_activity.types import utcnow
from tests.conftest import PASSWORD, fresh_database

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
ADMIN = "serve-admin@example.com"
STALLED = 16
SEND_TIMEOUT = 2
# Each export must outgrow what waitress buffered before the fix (16 MB) plus the sockets' buffers, or a stalled
# reader would never have held a thread: 80,000 items with 200-character titles make a 21 MB CSV.
ITEMS, TITLE = 80_000, 200
EXPORT = "/admin/activity/export.csv"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def seed(url: str, instance: Path) -> None:
    app = create_app({"APP_ENV": "development", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "serve-test-key",
                      "INSTANCE_DIR": str(instance), "PASSWORD_METHOD": TestConfig.PASSWORD_METHOD})
    with app.app_context():
        owner = create_user(ADMIN, PASSWORD, "admin", "Serve Admin")
        bucketlist = Bucketlist(title="stalled", owner_id=owner.id)
        db.session.add(bucketlist)
        db.session.commit()
        start = utcnow() - timedelta(days=1)
        db.session.execute(insert(Item), [
            {"bucketlist_id": bucketlist.id, "title": f"{i:06d}" + "x" * (TITLE - 6),
             "created_at": start + timedelta(seconds=i), "updated_at": start + timedelta(seconds=i)}
            for i in range(ITEMS)])
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module", params=[pytest.param("sqlite", marks=pytest.mark.sqlite),
                                        pytest.param("postgresql", marks=pytest.mark.postgresql)])
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """`manage.py run` on a free port, on a fresh database of each kind holding a 21 MB activity CSV (one server
    per module and kind: starting one costs seconds)."""
    tmp_path = tmp_path_factory.mktemp("serve")
    with fresh_database(request.param, tmp_path_factory) as url:
        seed(url, tmp_path)
        env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "METRICS_ENABLED", "FLASK_DEBUG")}
        env.update(DATABASE_URL=url, SECRET_KEY="serve-test-key", INSTANCE_DIR=str(tmp_path), PYTHONPATH=str(ROOT),
                   RATELIMIT_STORAGE_URI="memory://", EXPORT_SEND_TIMEOUT=str(SEND_TIMEOUT),
                   WEB_STATEMENT_TIMEOUT="60")  # 16 exports share one process: not this test's subject
        with LiveServer(env, tmp_path / "server.log", cwd=ROOT,
                        command=[sys.executable, "manage.py", "run", "--port", "{port}"]) as server:
            yield server, url


def login(server: LiveServer) -> str:
    """The session cookie of the admin, logged in through the real form."""
    status, headers, page = server.request("GET", "/login")
    cookie = "; ".join(c.split(";")[0] for c in headers.get_all("Set-Cookie") or [])
    token = _CSRF.search(page.decode()).group(1)  # type: ignore[union-attr]
    status, headers, _ = server.request("POST", "/login", urlencode(
        {"email": ADMIN, "password": PASSWORD, "csrf_token": token}),
        {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 302, status
    return "; ".join(c.split(";")[0] for c in headers.get_all("Set-Cookie") or [])


def stalled_export(port: int, cookie: str) -> socket.socket:
    """A connection that asks for the activity CSV and never reads a byte of it (a small receive window)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((HOST, port))
    sock.sendall(f"GET {EXPORT} HTTP/1.1\r\nHost: {HOST}\r\nCookie: {cookie}\r\n\r\n".encode())
    return sock


def status_code(sock: socket.socket) -> str:
    """The status code of the answer ``sock`` received (read now, up to 64 KB)."""
    sock.settimeout(5)
    try:
        return sock.recv(65536).split(b" ", 2)[1].decode()
    except OSError as exc:  # reset by the server before anything was buffered here
        return type(exc).__name__


def seconds_to_answer(port: int, path: str, cookie: str, timeout: float) -> float | None:
    """Seconds until ``path`` answered 200 in full; None if it did not within ``timeout``."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
        return time.monotonic() - started
    except TimeoutError:
        return None
    finally:
        conn.close()


def answers(port: int, path: str, cookie: str) -> float:
    """Seconds ``path`` took to answer 200; fails the test if it took 5 s or more (the target is under 1 s)."""
    seconds = seconds_to_answer(port, path, cookie, timeout=5)
    assert seconds is not None, f"{path} did not answer within 5 s"
    return seconds


def open_server_connections(port: int) -> int:
    """Connections the server holds open to clients (ESTABLISHED, local port ``port``), from /proc/net/tcp."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines
               if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "01")


def busy_backends(url: str) -> int:
    """PostgreSQL backends of the database running a query or inside a transaction (the pool's idle ones are not)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the server's connections from /proc/net/tcp")
def test_sixteen_stalled_export_readers_leave_the_app_answering(served: tuple[LiveServer, str]) -> None:
    server, url = served
    cookie = login(server)
    busy_s = 0.0
    started = time.monotonic()
    sockets = [stalled_export(server.port, cookie) for _ in range(STALLED)]
    try:
        # The exports are made (each 21 MB) while the login page waits its turn; then every thread is free again.
        first = seconds_to_answer(server.port, "/login", cookie, timeout=15)
        assert first is not None, "the login page did not answer within 15 s of 16 stalled export readers"
        login_s = [answers(server.port, "/login", cookie) for _ in range(5)]
        feed_s = [answers(server.port, "/admin/activity/feed.json", cookie) for _ in range(5)]
        if url.startswith("postgresql"):
            # Each export gives its connection back once written, whether or not its reader reads.
            deadline = time.monotonic() + 10
            while (busy := busy_backends(url)) and time.monotonic() < deadline:
                time.sleep(0.2)
            busy_s = time.monotonic() - started
            assert busy == 0, f"{busy} database connections still busy {time.monotonic() - started:.0f} s on"
        deadline = time.monotonic() + 15
        while (still := open_server_connections(server.port)) and time.monotonic() < deadline:
            time.sleep(0.2)
        closed_after = time.monotonic() - started
        print(f"\n{url.split(':')[0]}: {STALLED} stalled readers of a 21 MB export: login first answered in "
              f"{first * 1000:.0f} ms, then login median {statistics.median(login_s) * 1000:.0f} ms "
              f"(max {max(login_s) * 1000:.0f}), feed.json median {statistics.median(feed_s) * 1000:.0f} ms "
              f"(max {max(feed_s) * 1000:.0f}); stalled connections closed by the server after {closed_after:.1f} s")
        assert still == 0, f"{still} stalled connections still open {closed_after:.0f} s after they stalled"
        # What each stalled reader had been sent, read now that the server has let go: an export begun, or a 503
        # saying EXPORT_CONCURRENCY exports were being written.
        answers_seen = Counter(status_code(sock) for sock in sockets)
        print(f"{url.split(':')[0]}: stalled readers were answered {dict(answers_seen)}"
              + (f"; no database connection busy after {busy_s:.1f} s" if url.startswith("postgresql") else ""))
        assert set(answers_seen) <= {"200", "503"}, answers_seen
        assert answers_seen["200"] >= 1
    finally:
        for sock in sockets:
            sock.close()


def test_waitress_refuses_a_body_over_max_content_length_before_reading_it(served: tuple[LiveServer, str]) -> None:
    server, _ = served
    started = time.monotonic()
    with socket.create_connection((HOST, server.port), timeout=5) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 52428800\r\n\r\nemail=a")  # 50 MB announced; 7 bytes sent
        answer = sock.recv(4096)
    status = answer.split(b"\r\n", 1)[0].decode()
    print(f"\n50 MB POST /login announced: {status} after "
          f"{(time.monotonic() - started) * 1000:.0f} ms, 7 bytes of the body sent")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_the_documented_server_settings_follow_the_app_config() -> None:
    settings = waitress_settings({"EXPORT_SEND_TIMEOUT": 60, "MAX_CONTENT_LENGTH": 1024 * 1024}, threads=8)
    assert settings["channel_timeout"] == 60 and settings["max_request_body_size"] == 1024 * 1024
    assert settings["outbuf_high_watermark"] > 2**40  # a stalled reader never holds a thread back
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        with listening_socket(HOST, 0, 60) as sock:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 60_000
