"""A web request's transaction gets WEB_STATEMENT_TIMEOUT seconds of database time: a slower query is stopped
(PostgreSQL cancels it: nothing is left running) and answered with a page that says so; the CLI is not bound."""
from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask, request
from sqlalchemy import text

from admin_app.extensions import db
from tests.conftest import Client

BUDGET = 0.5
MARK = "budget_test_marker"


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"WEB_STATEMENT_TIMEOUT": BUDGET}


def slow_sql(backend: str, seconds: float) -> str:
    """A statement that works for about ``seconds`` or more on ``backend``, marked for pg_stat_activity."""
    if backend == "postgresql":
        return f"SELECT pg_sleep({seconds}) /* {MARK} */"
    rows = int(seconds * 3_000_000)  # SQLite counts some millions of rows a second; more is fine
    return f"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {rows}) SELECT count(*) FROM c"


@pytest.fixture
def slow_route(app: Flask, backend: str) -> str:
    """/test/slow[.json]: a page whose query takes 6 s (a fixed statement: nothing from the request)."""

    def slow() -> str:
        db.session.execute(text(slow_sql(backend, 6)))
        return "done"

    app.add_url_rule("/test/slow", "test_slow", slow)
    app.add_url_rule("/test/slow.json", "test_slow_json", slow)
    return "/test/slow"


def running_marked_queries() -> list[str]:
    return list(db.session.execute(text(
        "SELECT query FROM pg_stat_activity WHERE state = 'active' AND query LIKE :mark AND pid <> pg_backend_pid()"),
        {"mark": f"%pg_sleep%{MARK}%"}).scalars())


@pytest.mark.parametrize("suffix", ["", ".json"])
def test_a_query_over_the_web_budget_is_stopped_with_a_page_that_says_so(
        client: Client, slow_route: str, backend: str, suffix: str) -> None:
    started = time.monotonic()
    response = client.get(slow_route + suffix)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.get_json()["error"] if suffix else response.get_data(as_text=True)
    assert "took longer than 0.5 s" in body and "Narrow the filters" in body
    assert "SELECT" not in body
    assert elapsed < 5, f"answered after {elapsed:.1f} s"  # the budget is 0.5 s; the query alone takes 6 s
    print(f"\n{backend}: a 6 s query under a 0.5 s budget answered 503 in {elapsed * 1000:.0f} ms")
    if backend == "postgresql":
        assert running_marked_queries() == []  # cancelled in the database, not only abandoned by the app
        db.session.rollback()


@pytest.fixture
def timeout_route(app: Flask) -> str:
    """/test/timeout: the statement_timeout a web request's connection carries (PostgreSQL); ?set=N sets it on the
    connection first, behind the app's back."""

    def timeout() -> str:
        if request.args.get("set"):
            db.session.execute(text(f"SET statement_timeout = {int(request.args['set'])}"))
        return str(db.session.execute(text("SHOW statement_timeout")).scalar())

    app.add_url_rule("/test/timeout", "test_timeout", timeout)
    return "/test/timeout"


def test_the_budget_binds_only_web_requests(app: Flask, client: Client, backend: str, timeout_route: str) -> None:
    if backend == "postgresql":
        assert [client.get(timeout_route).get_data(as_text=True) for _ in range(3)] == ["500ms"] * 3
        # Set once per connection, not sent again by every request: what a request changed is still there.
        assert client.get(timeout_route + "?set=777").get_data(as_text=True) == "777ms"
        assert client.get(timeout_route).get_data(as_text=True) == "777ms"
    else:
        assert client.get("/login").status_code == 200  # a web request's transaction came and went on the pool
    started = time.monotonic()
    assert db.session.execute(text(slow_sql(backend, 1))).scalar() is not None  # the CLI, a report: no budget
    assert time.monotonic() - started > BUDGET or backend == "sqlite"  # (SQLite's count may be quicker)
    if backend == "postgresql":
        # Taken out of the pool by something else than a web request, the connection carries no timeout ...
        assert db.session.execute(text("SHOW statement_timeout")).scalar() == "0"
        db.session.rollback()
        db.session.remove()
        assert client.get(timeout_route).get_data(as_text=True) == "500ms"  # ... and a request's has it again
    db.session.rollback()
