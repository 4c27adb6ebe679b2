"""The doctor: what each audited model can show, and whether the database serves every feed branch from an index.

It asks the database itself: each branch's first-page statement goes through EXPLAIN (SQLite's EXPLAIN QUERY PLAN;
PostgreSQL's EXPLAIN with sequential scans and sorts priced out, so an index in the feed's order is chosen whenever
one exists), and a branch is served when its plan reads an index whose leading columns are the ones the branch
needs, with no sort. What is missing comes back as Alembic operations or a ready migration file.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, MetaData, Table, inspect, text

from .activity.events import ActivityFilter
from .activity.statements import branch_select
from .delivery.models import extension_metadata
from .indexes import IndexNeed, spec_indexes
from .specs import ModelSpec
from .state import ActivityState

PAGE = 51  # a first page and the row that tells whether there is another
_SQLITE_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\S+)")
_PG_INDEX = re.compile(r"Index (?:Only )?Scan(?: Backward)? using (\S+) on")


@dataclass
class BranchCheck:
    """One feed branch (a model's action, with or without an actor filter) as the database plans it."""

    action: str
    by_actor: bool
    need: IndexNeed
    index: str | None  # the index the plan reads, if any
    served: bool
    plan: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "by_actor": self.by_actor, "needs": self.need.name, "index": self.index,
                "served": self.served, "plan": self.plan}


@dataclass
class ModelCheck:
    spec: ModelSpec
    branches: list[BranchCheck] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.spec.describe(), "branches": [b.to_json() for b in self.branches]}


@dataclass
class Diagnosis:
    """Everything the doctor found: per model, its branches; the indexes missing; the extension's own tables that
    are missing (report runs, subscriptions, deliveries, report recipients)."""

    dialect: str
    models: list[ModelCheck]
    missing: list[IndexNeed]
    missing_tables: list[str]

    @property
    def report_runs(self) -> bool:
        return "report_runs" not in self.missing_tables

    @property
    def healthy(self) -> bool:
        return not self.missing_tables and not self.missing and all(b.served for m in self.models for b in m.branches)

    def to_json(self) -> dict[str, Any]:
        return {"database": self.dialect, "healthy": self.healthy, "report_runs_table": self.report_runs,
                "missing_tables": self.missing_tables,
                "models": [m.to_json() for m in self.models],
                "missing_indexes": [{"name": n.name, "table": n.table, "columns": list(n.columns), "where": n.where}
                                    for n in self.missing]}


def _covers(existing: list[str | None], need: IndexNeed) -> bool:
    return tuple(existing[:len(need.columns)]) == need.columns


def _sample_actor(st: ActivityState) -> Any:
    """A value of the user key's type to plan an actor-filtered branch with."""
    try:
        kind = st.user_key.type.python_type
    except NotImplementedError:
        kind = int
    return uuid.UUID(int=1) if kind is uuid.UUID else kind(1)


def explain(engine: Engine, statement: Any) -> list[str]:
    """The database's plan for ``statement`` (values rendered inline), one line per step."""
    sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn, conn.begin() as tx:
        if engine.dialect.name == "sqlite":
            plan = [str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
        else:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            conn.execute(text("SET LOCAL enable_sort = off"))
            plan = [str(row[0]) for row in conn.exec_driver_sql("EXPLAIN " + sql)]
        tx.rollback()
    return plan


def _index_in(plan: list[str], dialect: str) -> str | None:
    pattern = _SQLITE_INDEX if dialect == "sqlite" else _PG_INDEX
    for line in plan:
        found = pattern.search(line)
        if found:
            return found.group(1).strip('"')
    return None


def _sorts(plan: list[str], dialect: str) -> bool:
    if dialect == "sqlite":
        return any("TEMP B-TREE" in line for line in plan)
    return any(re.search(r"(^|->)\s*(Incremental )?Sort\b", line) for line in plan)


def diagnose(st: ActivityState, engine: Engine) -> Diagnosis:
    """Check every audited model of ``st`` against the database behind ``engine``."""
    dialect = engine.dialect.name
    inspector = inspect(engine)
    sample = _sample_actor(st)
    models: list[ModelCheck] = []
    missing: list[IndexNeed] = []
    for name, spec in sorted(st.specs.items()):
        existing: dict[str | None, list[str | None]] = {
            ix["name"]: list(ix["column_names"]) for ix in inspector.get_indexes(spec.table_name)}
        needs = spec_indexes(spec)
        missing.extend(n for n in needs if not any(_covers(cols, n) for cols in existing.values()))
        check = ModelCheck(spec)
        for need in needs:
            flt = ActivityFilter(actor_id=sample if need.by_actor else None)
            plan = explain(engine, branch_select(name, spec, need.action, flt, None, PAGE))
            index = _index_in(plan, dialect)
            served = index is not None and _covers(existing.get(index, []), need) and not _sorts(plan, dialect)
            check.branches.append(BranchCheck(need.action, need.by_actor, need, index, served, plan))
        models.append(check)
    own = [t.name for t in extension_metadata().sorted_tables]  # parents first
    return Diagnosis(dialect, models, missing, [t for t in own if not inspector.has_table(t)])


def _ops(diagnosis: Diagnosis) -> Any:
    from alembic.operations import ops

    upgrade: list[Any] = []
    for name in diagnosis.missing_tables:
        table = extension_metadata().tables[name]
        upgrade.append(ops.CreateTableOp.from_table(table))
        upgrade.extend(ops.CreateIndexOp.from_index(ix) for ix in sorted(table.indexes, key=lambda i: str(i.name)))
    for need in diagnosis.missing:
        scratch = Table(need.table, MetaData(), *(Column(c) for c in need.columns))  # names only: no app metadata
        upgrade.append(ops.CreateIndexOp.from_index(need.index(scratch)))
    return ops.UpgradeOps(ops=upgrade)


def render_operations(diagnosis: Diagnosis) -> tuple[str, str]:
    """(upgrade, downgrade) bodies: the Alembic operations adding what is missing, and removing it again."""
    from alembic.autogenerate import render_python_code

    upgrade = _ops(diagnosis)
    return tuple("    " + render_python_code(ops).strip() for ops in (upgrade, upgrade.reverse()))  # type: ignore[return-value]


MIGRATION = '''"""Indexes the activity feed needs{table_note} (written by `flask activity doctor --migration`).

Revision ID: {revision}
Revises: {down_revision}
Create Date: {created}
"""
from alembic import op
import sqlalchemy as sa
{imports}
revision = {revision!r}
down_revision = {down_revision_value}
branch_labels = None
depends_on = None


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''


def migration_head(path: Path) -> str | None:
    """The current head of the Alembic migrations a new file at ``path`` would join (``<dir>/versions/x.py``)."""
    scripts = path.resolve().parent.parent
    if path.resolve().parent.name != "versions" or not (scripts / "env.py").exists():
        return None
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(scripts))
    return ScriptDirectory.from_config(config).get_current_head()


def render_migration(diagnosis: Diagnosis, *, revision: str, down_revision: str | None,
                     now: datetime | None = None) -> str:
    """A complete Alembic migration file adding what ``diagnosis`` found missing."""
    upgrade, downgrade = render_operations(diagnosis)
    return MIGRATION.format(
        table_note="" if not diagnosis.missing_tables else
        f", and the extension's own tables ({', '.join(diagnosis.missing_tables)})",
        revision=revision, down_revision=down_revision, down_revision_value=repr(down_revision),
        created=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S%z"),
        imports="" if not diagnosis.missing_tables else
        "import flask_activity.types  # noqa: F401 (the extension's columns)\n",
        upgrade=upgrade, downgrade=downgrade)
