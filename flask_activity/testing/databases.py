"""Databases for a test run or a benchmark: is PostgreSQL there, and a throwaway database that is always dropped."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError


def postgresql_unreachable(admin_url: str) -> str | None:
    """None if the PostgreSQL server at ``admin_url`` answers, else the first line of why not."""
    try:
        engine = create_engine(admin_url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except (SQLAlchemyError, ImportError, OSError) as exc:  # refused, timed out, no driver: not reachable
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextmanager
def throwaway_postgresql(admin_url: str, prefix: str = "admin_app_test") -> Iterator[str]:
    """The URL of a new, empty database on the server of ``admin_url``, dropped (WITH (FORCE)) afterwards.

    The name is ``<prefix>_<12 hex digits>``: parallel runs (pytest-xdist workers, a benchmark beside the tests)
    never share one. Dropped even when the block raises or is interrupted.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))  # a generated name, never input
        try:
            yield admin_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
