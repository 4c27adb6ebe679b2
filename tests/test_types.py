"""The timestamp type: aware UTC in and out, naive refused, one sortable format on SQLite."""
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import StatementError

from admin_app.extensions import db
from admin_app.models import Item
from flask_activity.types import NaiveDatetimeError, utcnow
from tests import factories


def test_naive_datetime_is_rejected(app, admin_user):
    bl = factories.bucketlist(admin_user)
    it = factories.item(bl)
    it.updated_at = datetime(2026, 1, 1, 12, 0)  # naive
    with pytest.raises(StatementError) as info:
        db.session.commit()
    assert isinstance(info.value.orig, NaiveDatetimeError)
    db.session.rollback()


def test_naive_datetime_is_rejected_in_a_filter(app):
    with pytest.raises(StatementError):
        db.session.execute(select(Item).where(Item.created_at > datetime(2026, 1, 1)))
    db.session.rollback()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata"])
def test_aware_datetime_round_trips_as_the_same_instant_in_utc(app, admin_user, zone):
    bl = factories.bucketlist(admin_user)
    sent = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=ZoneInfo(zone))
    it = factories.item(bl, due_date=None)
    it.updated_at = sent
    db.session.commit()
    db.session.expire_all()
    got = db.session.get(Item, it.id).updated_at
    assert got == sent
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


def test_timestamps_come_from_callable_defaults_not_import_time(app, admin_user):
    bl = factories.bucketlist(admin_user)
    before = utcnow()
    a = factories.item(bl, "a")
    b = factories.item(bl, "b")
    assert before <= a.created_at <= b.created_at <= utcnow()
    assert a.created_at.tzinfo is not None


def test_bulk_update_statement_sets_updated_at_and_actor(app, admin_user):
    from flask_activity.audit import acting_as

    bl = factories.bucketlist(admin_user)
    it = factories.item(bl)
    old = it.updated_at
    with acting_as(admin_user.id):
        db.session.execute(update(Item).where(Item.id == it.id).values(done=True))
        db.session.commit()
    db.session.expire_all()
    fresh = db.session.get(Item, it.id)
    assert fresh.updated_at > old
    assert fresh.updated_by_id == admin_user.id


def test_sqlite_stores_one_fixed_width_sortable_utc_format(app, admin_user, backend):
    if backend != "sqlite":
        pytest.skip("storage format is specific to SQLite")
    bl = factories.bucketlist(admin_user)
    it = factories.item(bl)
    it.updated_at = datetime(2026, 7, 1, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))  # 12:00 UTC
    db.session.commit()
    raw = db.session.execute(text("SELECT created_at, updated_at FROM items WHERE id = :i"), {"i": it.id}).one()
    assert raw.updated_at == "2026-07-01 12:00:00.000000"
    assert len(raw.created_at) == len(raw.updated_at) == 26


def test_postgresql_column_is_timestamptz(app, backend):
    if backend != "postgresql":
        pytest.skip("column type is specific to PostgreSQL")
    kind = db.session.execute(text(
        "SELECT data_type FROM information_schema.columns WHERE table_name='items' AND column_name='created_at'"
    )).scalar()
    assert kind == "timestamp with time zone"


def test_every_timestamp_column_is_indexed(app):
    from sqlalchemy import inspect

    insp = inspect(db.engine)
    for table in ("users", "bucketlists", "items"):
        leading = {ix["column_names"][0] for ix in insp.get_indexes(table)}
        assert {"created_at", "updated_at", "deleted_at"} <= leading, table


def test_utc_offset_is_preserved_across_databases(app, admin_user):
    bl = factories.bucketlist(admin_user)
    it = factories.item(bl)
    instant = datetime(2026, 10, 25, 0, 59, 59, 999999, tzinfo=UTC)
    it.updated_at = instant
    db.session.commit()
    assert db.session.scalar(select(Item.id).where(Item.updated_at == instant)) == it.id


def test_sql_rendered_with_literal_values_converts_to_utc_and_refuses_naive(app, backend):
    paris = datetime(2026, 3, 2, 13, 0, tzinfo=ZoneInfo("Europe/Paris"))
    rendered = str(select(Item.id).where(Item.created_at > paris)
                   .compile(db.engine, compile_kwargs={"literal_binds": True}))
    assert "12:00:00" in rendered and "13:00:00" not in rendered
    with pytest.raises(Exception, match="Could not render literal value") as refused:
        str(select(Item.id).where(Item.created_at > datetime(2026, 3, 2, 13, 0))
            .compile(db.engine, compile_kwargs={"literal_binds": True}))
    assert isinstance(refused.value.__cause__, NaiveDatetimeError)


def test_sqlite_text_written_with_an_offset_by_another_tool_is_read_as_that_instant(app, admin_user, backend):
    if backend != "sqlite":
        pytest.skip("text storage is specific to SQLite")
    it = factories.item(factories.bucketlist(admin_user))
    db.session.execute(text("UPDATE items SET created_at = '2026-03-02 12:00:00+02:00' WHERE id = :id"), {"id": it.id})
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Item, it.id).created_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_feed_partial_indexes_exist_with_their_conditions_on_both_databases(app, backend):
    """Alembic's compare_metadata ignores index WHERE clauses, so the migration is checked here."""
    from sqlalchemy import inspect

    for table in ("users", "bucketlists", "items"):
        indexes = {ix["name"]: ix for ix in inspect(db.engine).get_indexes(table)}
        for name, condition in (("updated_at_id", "updated_at > created_at"),
                                ("deleted_at_id", "deleted_at IS NOT NULL"),
                                ("updated_by_at_id", "updated_at > created_at"),
                                ("deleted_by_at_id", "deleted_at IS NOT NULL")):
            where = indexes[f"ix_{table}_{name}"].get("dialect_options", {}).get(f"{backend}_where")
            assert where is not None, (table, name)
            normalised = str(where).replace("(", "").replace(")", "").lower()
            assert condition.lower() in normalised, (table, name, where)


def test_actor_filtered_feed_reads_an_actor_index_in_every_branch_on_sqlite(app, backend, admin_user):
    """Each branch of the actor-filtered page is a range of an (actor, timestamp, id) index, the deleted branch
    included (without its own index it walked every deleted row: 7 ms at 100k items, growing with the table)."""
    if backend != "sqlite":
        pytest.skip("SQLite's plan is checked; PostgreSQL's at scale is in docs/PLANS.md")
    from sqlalchemy import event

    from flask_activity import activity

    seen: list[tuple[str, object]] = []
    listener = lambda conn, cursor, statement, params, context, many: seen.append((statement, params))  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        activity.fetch_page(activity.ActivityFilter(actor_id=admin_user.id), 50)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    statement, params = seen[-1]
    plan = [row[3] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    reads = [step for step in plan if step.startswith(("SEARCH", "SCAN")) and " users_1 " not in step]
    assert len(reads) >= 9, plan
    for step in reads:
        if step.startswith("SCAN anon"):
            continue  # the branch's own limited rows
        assert "_by_at_id (" in step, step


def test_postgresql_connections_always_plan_for_the_actual_filter_values(app, backend):
    """A generic plan for a prepared feed query ignored the actor filter (5 -> 19 ms at 1M items)."""
    if backend != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's")
    assert db.session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    assert "lock_timeout" in str(app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"])  # kept
