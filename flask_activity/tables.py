"""The extension's declarative base: its own tables (report runs, subscriptions, the dashboard's shared counts)
live on a metadata of their own, so a host's models never include them. A host creates them with
``ActivityReporting.create_tables()`` or its migrations (``flask activity doctor`` prints the operations)."""
from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class ActivityModel(DeclarativeBase):
    """The extension's declarative base: its metadata holds only the extension's tables."""

    metadata = MetaData(naming_convention=NAMING)
