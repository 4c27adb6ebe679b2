"""`flask activity doctor` on a host app whose own timestamps have no feed indexes yet, on SQLite and PostgreSQL:
it finds them missing by the database's EXPLAIN, writes a migration, and after that migration every branch is
served by an index."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import inspect

from flask_activity import state
from flask_activity.audit import mixin_indexes
from flask_activity.indexes import MAX_NAME, feed_indexes, index_definitions
from tests.hosts import host

TICKET_INDEXES = {"ix_tickets_created_id": ["created", "id"], "ix_tickets_modified_id": ["modified", "id"],
                  "ix_tickets_archived_at_id": ["archived_at", "id"]}


def _doctor(app: Any, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["activity", "doctor", *args])
    return result.exit_code, result.stdout


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("activity_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _migrate(app: Any, db: Any, module: ModuleType, step: str = "upgrade") -> None:
    with app.app_context(), db.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        getattr(module, step)()


def test_doctor_finds_the_missing_indexes_and_its_migration_adds_them(host_url, tmp_path):
    app, db, _activity, *_ = host(host_url)
    with app.app_context():
        db.create_all()  # the host's tables as they were: the mixin's indexes, none on the ticket's own columns

    code, out = _doctor(app, "--format", "json")
    before = json.loads(out)
    assert code == 1 and not before["healthy"] and before["report_runs_table"] is False
    assert before["missing_tables"] == ["activity_event_counts", "activity_event_counts_state",
                                        "activity_report_recipients", "activity_subscriptions", "report_runs",
                                        "activity_deliveries"]  # parents first: deliveries point at subscriptions
    assert {m["name"]: m["columns"] for m in before["missing_indexes"]} == TICKET_INDEXES
    tickets = next(m for m in before["models"] if m["model"] == "ticket")
    assert tickets["actions"] == ["created", "updated", "deleted"] and tickets["note"] == "this model records no actors"
    assert [(b["action"], b["by_actor"], b["served"]) for b in tickets["branches"]] == [
        ("created", False, False), ("updated", False, False), ("deleted", False, False)]
    macros = next(m for m in before["models"] if m["model"] == "macro")
    assert len(macros["branches"]) == 6 and all(b["served"] for b in macros["branches"]), macros
    assert "op.create_index('ix_tickets_archived_at_id', 'tickets', ['archived_at', 'id']" in before["upgrade"]

    code, text = _doctor(app)
    assert code == 1
    assert "created                  NOT SERVED: reads the whole table; needs ix_tickets_created_id" in text
    assert "ticket (table tickets)" in text and "events:  created, updated, deleted (this model records no actors)" \
        in text

    versions = tmp_path / "versions"
    versions.mkdir()
    migration = versions / "0002_activity_indexes.py"
    code, _ = _doctor(app, "--migration", str(migration), "--revision", "0002", "--down-revision", "0001")
    assert code == 1 and migration.exists()
    module = _load(migration)
    assert (module.revision, module.down_revision) == ("0002", "0001")
    _migrate(app, db, module)

    code, out = _doctor(app, "--format", "json")
    after = json.loads(out)
    assert code == 0 and after["healthy"] and after["missing_indexes"] == []
    assert all(b["served"] for m in after["models"] for b in m["branches"])
    served = {b["index"] for m in after["models"] if m["model"] == "ticket" for b in m["branches"]}
    assert served == set(TICKET_INDEXES)
    with app.app_context():
        found = {ix["name"]: ix["column_names"] for ix in inspect(db.engine).get_indexes("tickets")}
    assert found == TICKET_INDEXES
    code, text = _doctor(app)
    assert code == 0 and text.endswith("all feed branches are served by an index\n")

    _migrate(app, db, module, "downgrade")  # the migration's downgrade takes back exactly what it added
    assert json.loads(_doctor(app, "--format", "json")[1])["missing_indexes"] == before["missing_indexes"]


def test_doctor_refuses_an_existing_migration_file_with_one_line(tmp_path):
    app, db, *_ = host(f"sqlite:///{tmp_path / 'h.db'}")
    with app.app_context():
        db.create_all()
    taken = tmp_path / "taken.py"
    taken.write_text("# mine\n")
    result = app.test_cli_runner().invoke(args=["activity", "doctor", "--migration", str(taken)])
    assert result.exit_code == 2 and result.stderr == f"error: --migration: {taken} exists; name a new file\n"
    assert taken.read_text() == "# mine\n"


def test_index_definitions_are_bound_to_the_tables_for_autogenerate_and_the_mixin_keeps_its_own(tmp_path):
    app, _db, activity, _account, Ticket, Macro = host(f"sqlite:///{tmp_path / 'h.db'}")
    with app.app_context():
        first = activity.index_definitions()
        again = activity.index_definitions()
        assert [ix.name for ix in first] == [ix.name for ix in again]
        tickets = {ix.name: [c.name for c in ix.columns] for ix in first if ix.table is Ticket.__table__}
        assert tickets == TICKET_INDEXES
        assert {ix.name for ix in Ticket.__table__.indexes} == set(TICKET_INDEXES)  # once, however often asked
        macro_indexes = {ix for ix in first if ix.table is Macro.__table__}
        assert macro_indexes <= set(Macro.__table__.indexes) and len(macro_indexes) == 6
        assert [ix.name for ix in index_definitions(state().specs.values())] == [ix.name for ix in first]


def test_the_mixin_declares_exactly_what_the_rule_asks_for():
    rule = feed_indexes("t", {"created_at": "created_at", "updated_at": "updated_at", "deleted_at": "deleted_at",
                              "created_by": "created_by_id", "updated_by": "updated_by_id"}, exact=True)
    declared = mixin_indexes("t")
    assert [(n.name, n.columns) for n in rule] == [(ix.name, tuple(ix.expressions)) for ix in declared]
    assert [n.where for n in rule] == [None, "updated_at > created_at", "deleted_at IS NOT NULL", None,
                                       "updated_at > created_at", "deleted_at IS NOT NULL"]


def test_long_names_stay_within_postgresqls_identifier_limit():
    long = "t" * 60
    names = [n.name for n in feed_indexes(long, {"created_at": "c" * 30}, exact=False)]
    assert len(names[0]) == MAX_NAME and names[0].startswith("ix_ttt")
    assert names != [n.name for n in feed_indexes(long + "x", {"created_at": "c" * 30}, exact=False)]
