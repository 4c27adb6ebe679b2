"""Where and how a report reads: the reports engine and one read-only snapshot per run."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ..state import db


def reports_engine() -> Engine:
    """Where reports read: REPORTS_DATABASE_URL (a read replica) if set, else the main database."""
    return db.engines.get("reports", db.engine)


@contextmanager
def read_snapshot() -> Iterator[Session]:
    """A session on its own connection inside one read transaction: every query sees one snapshot.

    On PostgreSQL the transaction is read-only, REPORT_STATEMENT_TIMEOUT bounds each statement, and
    ``session.info["source_lag_s"]`` holds how far behind its primary a replica was (None on a primary).
    """
    conn: Connection = reports_engine().connect()
    lag = None
    try:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            timeout = int(current_app.config["REPORT_STATEMENT_TIMEOUT"])
            if timeout > 0:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout * 1000}")  # an int, not input
            lag = conn.exec_driver_sql(
                "SELECT CASE WHEN pg_is_in_recovery() "
                "THEN COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END").scalar()
        else:
            conn.exec_driver_sql("BEGIN")  # SQLite (WAL): the snapshot is taken at the first read
        with Session(bind=conn) as session:
            session.info["source_lag_s"] = None if lag is None else float(lag)
            yield session
    finally:
        # Whatever went wrong (a lost connection, nothing begun), the connection is closed next; the error
        # that ended the run is the one to report, not this one.
        with contextlib.suppress(Exception):
            conn.exec_driver_sql("ROLLBACK")
        conn.close()
