"""Engine settings per database (PostgreSQL connection options, SQLite pragmas, the web requests' time budget)."""
from __future__ import annotations

import sqlite3
import time
from typing import Any

from flask import current_app, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

#: Where a SQLite connection keeps the monotonic time its current web transaction's budget runs out.
DEADLINE = "admin_app.statement_deadline"
#: SQLite virtual-machine steps between two looks at the clock (~1 ms of work; the look costs ~1 µs).
SQLITE_CHECK_EVERY = 20_000
#: PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout (query_canceled).
QUERY_CANCELED = "57014"


def with_custom_plans(options: dict[str, Any] | None) -> dict[str, Any]:
    """PostgreSQL engine options that make every statement plan for its own parameters (a copy; ``options`` stays).

    psycopg prepares a statement after five runs, and PostgreSQL may then switch the prepared feed query to a
    generic plan that ignores the actor and the window (5 ms -> 19 ms at 1M items).
    """
    options = dict(options or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args["options"] = f"{connect_args.get('options', '')} -c plan_cache_mode=force_custom_plan".strip()
    options["connect_args"] = connect_args
    return options


def enable_sqlite_pragmas(engine: Engine) -> None:
    """Foreign keys on, WAL for concurrent readers, and a busy timeout instead of 'database is locked'."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=5000")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()


def bound_web_statements(session: scoped_session[Any], engine: Engine) -> None:
    """Give each transaction of a web request WEB_STATEMENT_TIMEOUT seconds of database time (0: no limit).

    A search of thousands of words ran 24 s on PostgreSQL and kept running after its client left. PostgreSQL:
    ``SET LOCAL statement_timeout`` in each transaction the request's session begins, so the setting ends with
    the transaction and a pooled connection the CLI or the report runner takes next carries none (the reports'
    own connections use REPORT_STATEMENT_TIMEOUT). SQLite: a progress handler interrupts a statement once the
    transaction's deadline has passed. A page reads in one transaction, so this is the page's budget; a request
    that writes in several (Run now records its run before and after the report) gets it for each. The error is
    recognised by over_budget().
    """
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _interrupt_when_spent)
        event.listen(engine, "checkin", _forget_deadline)
    if not event.contains(session, "after_begin", _budget_transaction):  # one listener for every app's session
        event.listen(session, "after_begin", _budget_transaction)


def _budget_transaction(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    if not has_request_context():
        return
    seconds = float(current_app.config.get("WEB_STATEMENT_TIMEOUT") or 0)
    if seconds <= 0:
        return
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(seconds * 1000))}")  # a number
    elif connection.dialect.name == "sqlite":
        connection.info[DEADLINE] = time.monotonic() + seconds


def _interrupt_when_spent(dbapi_conn: Any, record: Any) -> None:
    info = record.info

    def spent() -> int:
        deadline = info.get(DEADLINE)
        return 1 if deadline is not None and time.monotonic() > deadline else 0

    dbapi_conn.set_progress_handler(spent, SQLITE_CHECK_EVERY)


def _forget_deadline(_dbapi_conn: Any, record: Any) -> None:
    record.info.pop(DEADLINE, None)


def over_budget(exc: BaseException) -> bool:
    """True if ``exc`` (a SQLAlchemy error) is a statement stopped by the web requests' time budget."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == QUERY_CANCELED:
        return True
    return isinstance(orig, sqlite3.OperationalError) and str(orig) == "interrupted"
