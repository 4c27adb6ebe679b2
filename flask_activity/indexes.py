"""The indexes the feed needs on an audited table, by one rule for mixin and mapped models alike.

Every feed branch (one model, one action) is ordered by (time, id) and limited, so each needs a ``(time, id)``
index to be one ordered range scan; an actor-filtered branch needs ``(actor, time, id)``. The deleted branches'
indexes are partial (``deleted IS NOT NULL``: only deleted rows), and so is the mixin's updated index (its rows
have ``updated_at == created_at`` until a change: an insert maintains neither). A mapped model's updated branch
has a tolerance (see ModelSpec.where_updated) no partial index condition can state, so its index is full.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Index, Table, text

TIME_ROLE = {"created": "created_at", "updated": "updated_at", "deleted": "deleted_at"}
MAX_NAME = 63  # PostgreSQL's identifier limit (SQLite has none)


@dataclass(frozen=True)
class IndexNeed:
    """One index a feed branch needs: its name, table, columns in order and partial condition (or None)."""

    name: str
    table: str
    columns: tuple[str, ...]
    where: str | None
    action: str
    by_actor: bool

    def index(self, table: Table | None = None) -> Index:
        """The SQLAlchemy ``Index``; with ``table``, bound to it (and so part of its metadata, for autogenerate)."""
        columns: list[Any] = [table.c[c] for c in self.columns] if table is not None else list(self.columns)
        where: dict[str, Any] = (
            {"sqlite_where": text(self.where), "postgresql_where": text(self.where)} if self.where else {})
        return Index(self.name, *columns, **where)


def _name(*parts: str) -> str:
    name = "_".join(("ix", *parts))
    if len(name) <= MAX_NAME:
        return name
    return f"{name[:MAX_NAME - 9]}_{hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]}"


def feed_indexes(table: str, columns: Mapping[str, str], *, exact: bool, key: str = "id") -> list[IndexNeed]:
    """The indexes for a table whose roles (created_at, updated_at, deleted_at, created_by, updated_by) are in
    ``columns`` (role -> column name); ``exact``: the mixin's columns (updated_at == created_at for a new row)."""
    needs: list[IndexNeed] = []
    actors: list[IndexNeed] = []
    for action, role in TIME_ROLE.items():
        at = columns.get(role)
        if at is None:
            continue
        where = None
        if action == "deleted":
            where = f"{at} IS NOT NULL"
        elif action == "updated" and exact:
            where = f"{at} > {columns['created_at']}"
        needs.append(IndexNeed(_name(table, at, key), table, (at, key), where, action, False))
        actor = columns.get("created_by" if action == "created" else "updated_by")
        if actor is not None:
            actors.append(IndexNeed(_name(table, f"{action}_by_at", key), table, (actor, at, key), where, action,
                                    True))
    return needs + actors


def spec_indexes(spec: Any) -> list[IndexNeed]:
    """The indexes one audited model (a ModelSpec) needs, named by its table's column names."""
    mapper = spec.cls.__mapper__
    names = {role: mapper.attrs[attr].columns[0].name for role, attr in spec.columns.items()}
    key = mapper.attrs["id"].columns[0].name
    return feed_indexes(spec.table_name, names, exact=spec.exact, key=key)


def index_definitions(specs: Iterable[Any]) -> list[Index]:
    """The feed's ``Index`` objects on the audited tables, bound to them: call it before Alembic's autogenerate
    compares the metadata (an index the table already declares, as the mixin's, is returned as it is)."""
    found: list[Index] = []
    for spec in specs:
        table: Table = spec.cls.__table__
        declared = {str(ix.name): ix for ix in table.indexes}
        for need in spec_indexes(spec):
            found.append(declared[need.name] if need.name in declared else need.index(table))
    return found
