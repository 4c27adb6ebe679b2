"""Fixtures: every test runs on SQLite and on PostgreSQL (a throwaway database per run).

PostgreSQL is skipped, with the reason, only when no server is reachable and CI is not set;
under CI=true an unreachable server fails the run.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, appcontext_pushed
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import text

from admin_app import create_app
from admin_app.accounts import create_user
from admin_app.config import TestConfig
from admin_app.extensions import db
from admin_app.models import User
from flask_activity.testing import (
    postgresql_unreachable,
    signal_recorder,  # noqa: F401  (the fixture, for every test)
    throwaway_postgresql,
)

pytest_plugins = ("tests.fuzzing", "tests.hosts")  # hypothesis profiles and fuzz counts; a host app of its own

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "correct-horse-battery"
# Children first.
TABLES = ("activity_event_counts", "activity_event_counts_state", "activity_deliveries", "activity_subscriptions",
          "activity_report_recipients", "report_runs", "items", "bucketlists", "users")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def pytest_configure(config: pytest.Config) -> None:
    # Teardown terminates backends a test left open; the pool then logs each failed reset with a traceback,
    # sometimes from a garbage-collector finalizer running inside compile(), where formatting a traceback
    # trips a CPython 3.11 bug (SystemError: AST constructor recursion depth mismatch). Expected noise: muted.
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
    config.addinivalue_line("markers", "postgresql: runs against the PostgreSQL backend")
    config.addinivalue_line("markers", "sqlite: runs against the SQLite backend")
    appcontext_pushed.connect(_close_pools_with_the_app, weak=False)


def _migrate(url: str) -> None:
    from admin_app.cli.db import init_db

    app = create_app({**_config(url)})
    with app.app_context():
        init_db()
        db.engine.dispose()


def _config(url: str) -> dict[str, Any]:
    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()} | {"SQLALCHEMY_DATABASE_URI": url}
    if url.startswith("postgresql"):
        # A test that leaks a transaction fails loudly instead of hanging the run on a lock.
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {**config["SQLALCHEMY_ENGINE_OPTIONS"],  # production's, plus:
                                               "connect_args": {"options": "-c lock_timeout=10000"}}
    return config


@pytest.fixture(scope="session", params=[
    pytest.param("sqlite", marks=pytest.mark.sqlite),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for this test session (per xdist worker)."""
    with fresh_database(request.param, tmp_path_factory) as url:
        yield url


@contextlib.contextmanager
def fresh_database(kind: str, tmp_path_factory: pytest.TempPathFactory,
                   migrate: Callable[[str], None] = _migrate) -> Iterator[str]:
    """A new database of ``kind`` (sqlite | postgresql) made ready by ``migrate(url)`` (default: the bucketlist
    app's migrations), dropped afterwards; skips or fails as above."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        migrate(url)
        yield url
        return
    problem = postgresql_unreachable(PG_ADMIN_URL)
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires PostgreSQL at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({problem}); SQLite only")
    with throwaway_postgresql(PG_ADMIN_URL) as url:
        migrate(url)
        yield url


def _close_pools_with_the_app(app: Flask, **_: Any) -> None:
    """When an app that used the database is collected, close its engines' pooled connections with it.

    Tests make many apps (another worker, a replica, other settings, one per test). Flask-SQLAlchemy never disposes
    an app's engines, so a collected app's pool took open connections with it, and psycopg warned about each one
    (an error here) in whichever later test the garbage collector happened to run. Connected to appcontext_pushed.
    """
    own = app.extensions.get("sqlalchemy")  # the app's own Flask-SQLAlchemy (a host app in the tests has its own)
    if own is not None and "tests.pool_finalizer" not in app.extensions:
        app.extensions["tests.pool_finalizer"] = weakref.finalize(app, _dispose, list(own.engines.values()))


def _dispose(engines: list[Any]) -> None:
    for engine in engines:
        engine.dispose()


@pytest.fixture
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Settings on top of TestConfig; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def app(database_url: str, app_config: dict[str, Any]) -> Iterator[Flask]:
    """An app on the session's database, inside an app context; tables emptied afterwards."""
    app = create_app({**_config(database_url), **app_config})
    app.test_client_class = Client
    with app.app_context():
        yield app
        empty_database()


def empty_database(database: Any = db, tables: Sequence[str] = TABLES) -> None:
    """Leave the current app's database empty for the next test (the fuzz tests' module-wide apps use it too);
    ``database`` and ``tables`` (children first): another app's Flask-SQLAlchemy and tables (tests/adoption)."""
    database.session.remove()
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Connections left open by the test (e.g. an unread streamed response) hold locks.
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
    database.engine.dispose()


class Client(FlaskClient):
    """A test client that can log in and find CSRF tokens the way a browser would.

    Each request runs with no app context of the test's own, as under a real server:
    otherwise Flask reuses the fixture's context and ``g`` (CSRF token, logged-in user)
    and the database session would leak from one request to the next.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        # Streamed bodies are read inside the request's own context (they cannot be read later).
        kwargs.setdefault("buffered", True)

        def isolated() -> Any:
            _cv_app.set(None)  # type: ignore[arg-type]
            return FlaskClient.open(self, *args, **kwargs)

        return contextvars.copy_context().run(isolated)

    def csrf(self) -> str:
        page = self.get("/logout").get_data(as_text=True)
        match = _CSRF.search(page)
        assert match, "no CSRF token on the logout page"
        return match.group(1)

    def login(self, email: str, password: str = PASSWORD) -> Any:
        page = self.get("/login").get_data(as_text=True)
        token = _CSRF.search(page).group(1)  # type: ignore[union-attr]
        return self.post("/login", data={"email": email, "password": password, "csrf_token": token})

    def post_form(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST with a valid CSRF token, as a form in the page would."""
        return self.post(url, data={**(data or {}), "csrf_token": self.csrf()}, **kwargs)


@pytest.fixture
def reports_dir(app: Flask, tmp_path: Path) -> Path:
    """REPORTS_DIR in this test's temporary folder (not created: the first run makes it)."""
    path = tmp_path / "reports"
    app.config["REPORTS_DIR"] = str(path)
    return path


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def make_user(app: Flask):
    """Factory: make_user('a@x.io', role='admin') -> User (password PASSWORD)."""

    def make(email: str, role: str = "viewer", password: str = PASSWORD) -> User:
        return create_user(email, password, role)

    return make


@pytest.fixture
def admin_user(make_user) -> User:
    return make_user("admin@example.com", "admin")


@pytest.fixture
def viewer_user(make_user) -> User:
    return make_user("viewer@example.com", "viewer")


def logged_in(app: Flask, user: User) -> Client:
    """A client with ``user`` logged in through the real login form."""
    c = app.test_client()
    assert c.login(user.email).status_code == 302
    return c  # type: ignore[return-value]


@pytest.fixture
def admin_client(app: Flask, admin_user: User) -> Client:
    return logged_in(app, admin_user)


@pytest.fixture
def viewer_client(app: Flask, viewer_user: User) -> Client:
    return logged_in(app, viewer_user)
