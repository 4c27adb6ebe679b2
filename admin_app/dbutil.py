"""Engine settings per database (PostgreSQL connection options, SQLite pragmas, the web requests' time budget)."""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app, has_request_context, request
from flask_sqlalchemy.session import Session as FlaskSQLAlchemySession
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError, InvalidatePoolError
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, scoped_session

#: Where a SQLite connection keeps the monotonic time its current web transaction's budget runs out.
DEADLINE = "admin_app.statement_deadline"
#: SQLite virtual-machine steps between two looks at the clock (~1 ms of work; the look costs ~1 µs).
SQLITE_CHECK_EVERY = 20_000
#: Where a PostgreSQL connection notes the statement_timeout (ms) it was given at checkout; None: the default.
TIMEOUT_MS = "admin_app.statement_timeout_ms"
#: Where a pooled connection notes when it was last returned to the pool (monotonic seconds).
RETURNED_AT = "admin_app.returned_at"
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
    the connection's ``statement_timeout`` is set when a web request checks it out of the pool and set back
    (RESET) when anything else does, so the CLI, the scheduler and Run now's report threads carry none (the
    reports' own transactions use REPORT_STATEMENT_TIMEOUT). A connection keeps its setting between requests, so
    a busy server sets it once per connection, not in every transaction (that was one more round trip each,
    ``SET LOCAL``). So behind a pooler, use PgBouncer's session pooling, not transaction pooling (which would hand
    the setting to whichever client's transaction that server connection runs next). SQLite: a progress handler
    interrupts a statement once the transaction's deadline has passed.
    A page reads in one transaction, so this is the page's budget; a request that writes in several (Run now
    records its run before and after the report) gets it for each. The error is recognised by over_budget().
    """
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _interrupt_when_spent)
        event.listen(engine, "checkin", _forget_deadline)
        if not event.contains(session, "after_begin", _budget_transaction):  # one listener for every app's session
            event.listen(session, "after_begin", _budget_transaction)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _budget_connections(engine))


def _web_budget() -> float:
    """This request's WEB_STATEMENT_TIMEOUT in seconds; 0 outside a request or when there is no limit."""
    return float(current_app.config.get("WEB_STATEMENT_TIMEOUT") or 0) if has_request_context() else 0.0


def _budget_transaction(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    seconds = _web_budget()
    if seconds > 0 and connection.dialect.name == "sqlite":
        connection.info[DEADLINE] = time.monotonic() + seconds


def _budget_connections(engine: Engine) -> Callable[[Any, Any, Any], None]:
    """The checkout listener that gives ``engine``'s connections their statement_timeout (bound_web_statements)."""

    def budget(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        seconds = _web_budget()
        wanted = max(1, round(seconds * 1000)) if seconds > 0 else None
        if record.info.get(TIMEOUT_MS) == wanted:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:  # a number, never input
                cursor.execute("RESET statement_timeout" if wanted is None else f"SET statement_timeout = {wanted}")
            finally:
                cursor.close()
            dbapi_conn.commit()  # a SET inside a transaction that is rolled back would be undone with it
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_conn, None):  # a dead connection: the pool takes a new one
                raise DisconnectionError(f"a pooled connection was lost: {exc}") from exc
            raise  # anything else is the engine's error to report (the errors module's 503 for OperationalError)
        record.info[TIMEOUT_MS] = wanted

    return budget


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection is alive before use only if it has been idle ``idle_seconds`` or more.

    ``pool_pre_ping`` pings at every checkout: on PostgreSQL one more round trip in every request. A connection
    returned moments ago is all but certainly alive; one that waited (overnight, across a database restart) is
    pinged and, if dead, replaced before the request sees it. A database that restarts while the server is busy
    costs each process one request (a 503 saying to retry): SQLAlchemy then replaces every older connection.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info[RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(RETURNED_AT)
        if returned is None or time.monotonic() - returned < idle_seconds:
            return  # new, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:  # as pool_pre_ping: every older connection goes too
            raise InvalidatePoolError(f"a pooled connection did not answer a ping: {exc}") from exc


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


#: Request methods that change nothing: their reads need no transaction of their own.
SAFE_METHODS = frozenset({"GET", "HEAD"})


class WebSession(FlaskSQLAlchemySession):
    """The session: on PostgreSQL, a GET or HEAD request reads in autocommit.

    A page's reads need no transaction: under PostgreSQL's READ COMMITTED each statement sees its own snapshot
    either way. Without one, a ``feed.json`` is two round trips (its user, its page) instead of four (BEGIN,
    user, page, ROLLBACK). Such a request may still write (start-up recovery marks a dead process's runs failed
    on the first one): each statement then commits on its own, so it is one statement each. A streamed read
    (``stream_results`` / ``yield_per``: an export) is the exception: a server-side cursor lives in a
    transaction, so it gets a connection of its own that has one; Core streaming on ``session.connection()`` is
    not seen, so stream through ``session.execute(stmt.execution_options(stream_results=True))``. It assumes
    PostgreSQL's default READ COMMITTED, and no ``SELECT ... FOR UPDATE`` in a GET (its lock would end at once).
    SQLite sends no BEGIN for reads, so it is left as it is; a bind given explicitly (a test's outer
    transaction) is kept.
    """

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any) -> Any:
        streamed = kwargs.pop(STREAMED, False) or _streamed(getattr(clause, "_execution_options", None) or {})
        engine = super().get_bind(mapper, clause, bind, **kwargs)
        if (bind is None and not streamed and isinstance(engine, Engine) and engine.dialect.name == "postgresql"
                and has_request_context() and request.method in SAFE_METHODS):
            return _autocommit(engine)
        return engine


#: The bind argument (set by _note_streamed) that tells WebSession.get_bind a statement is streamed.
STREAMED = "admin_app_streamed"


def _streamed(options: Mapping[str, Any]) -> bool:
    return bool(options.get("stream_results") or options.get("yield_per"))


@event.listens_for(WebSession, "do_orm_execute")
def _note_streamed(state: ORMExecuteState) -> None:
    """An ORM read with ``yield_per`` or ``stream_results`` (given to execute(), or Query.yield_per) is streamed."""
    if _streamed(state.execution_options) or (state.is_select and getattr(state.load_options, "_yield_per", None)):
        state.bind_arguments[STREAMED] = True


#: The attribute of an engine holding its autocommit variant (on the engine: it goes away with the engine's app).
_AUTOCOMMIT = "_admin_app_autocommit"


def _autocommit(engine: Engine) -> Engine:
    """``engine`` reading in autocommit (same pool, same events), made once per engine."""
    found: Engine | None = getattr(engine, _AUTOCOMMIT, None)
    if found is None:
        found = engine.execution_options(isolation_level="AUTOCOMMIT")
        setattr(engine, _AUTOCOMMIT, found)
    return found
