"""A timestamp column type that is UTC and timezone-aware on every database."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# One fixed-width format on SQLite, so text order is time order.
SQLITE_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


def utcnow() -> datetime:
    """Now, aware and in UTC. Used as a callable default, never evaluated at import."""
    return datetime.now(UTC)


class NaiveDatetimeError(ValueError):
    """A naive datetime reached the database layer; its instant is unknown."""


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out; naive datetimes are refused.

    PostgreSQL stores ``timestamptz``. SQLite stores UTC text in one sortable,
    fixed-width format with microseconds.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sqlite.DATETIME(storage_format=SQLITE_FORMAT))
        return dialect.type_descriptor(DateTime(timezone=True))

    # Processors are built once per database and skip the generic TypeDecorator chain: every audited write
    # binds two or three of these, and the plain path cost ~8% of SQLite write throughput (bench/hooks.py).
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        as_text = dialect.name == "sqlite"

        def process(value: Any) -> Any:
            if value is None:
                return None
            value = _to_utc(value)
            if as_text:  # the same text as SQLITE_FORMAT
                return value.replace(tzinfo=None).isoformat(" ", "microseconds")
            return value

        return process

    def process_literal_param(self, value: Any, dialect: Dialect) -> Any:
        """SQL rendered with literal values (Alembic's offline --sql mode) gets the same checks and conversion."""
        if value is None:
            return None
        value = _to_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any]:
        from_text = dialect.name == "sqlite"

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            if from_text and isinstance(value, str):
                value = datetime.fromisoformat(value)
            if value.tzinfo is None:  # what this type stores on SQLite: UTC without an offset
                return value.replace(tzinfo=UTC)
            return value.astimezone(UTC)

        return process


def _to_utc(value: Any) -> datetime:
    """An aware datetime in UTC; TypeError for a non-datetime, NaiveDatetimeError for a naive one."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(f"naive datetime {value.isoformat()} refused: attach a time zone")
    return value.astimezone(UTC)
