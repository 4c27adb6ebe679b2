"""Engine settings per database (PostgreSQL connection options, SQLite pragmas)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


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
