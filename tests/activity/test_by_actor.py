"""One meaning of "by X" and "system": the model lists' Actor filter holds exactly the rows whose events the feed
shows for the same ``actor=``. A row is "by X" when at least one of its feed events (created, updated, deleted, as
the feed defines them) has actor X, and "by system" when at least one of them has no actor.

Every test runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import insert

from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, User
from flask_activity import activity, state
from flask_activity.activity.statements import row_has_event_by
from flask_activity.admin.filters import ActorFilter, DeletedFilter

T0 = datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("UTC"))
LATER = T0 + timedelta(hours=5)


def _item(bl_id: int, title: str, created_by: User | None, updated_by: User | None, updated_at: datetime = T0,
          deleted_at: datetime | None = None) -> int:
    """An item created at T0 with these audit columns as they stand (the columns hold the last write only)."""
    return db.session.execute(insert(Item).returning(Item.id), [dict(
        bucketlist_id=bl_id, title=title, done=False, created_at=T0, updated_at=updated_at, deleted_at=deleted_at,
        created_by_id=created_by.id if created_by else None,
        updated_by_id=updated_by.id if updated_by else None)]).scalar_one()


@pytest.fixture
def rows(app: Flask, make_user) -> dict[str, int]:
    """The cases where "created or last updated by" and "has an event by" differ, by title -> id."""
    ann, bob = make_user("ann@example.com"), make_user("bob@example.com")
    bl = db.session.execute(insert(Bucketlist).returning(Bucketlist.id), [dict(
        title="List", description="", owner_id=ann.id, created_at=T0, updated_at=T0)]).scalar_one()
    out = {
        # created by the system, then updated by Ann: events created (system), updated (Ann)
        "system then Ann": _item(bl, "system then Ann", None, ann, updated_at=LATER),
        # created by Ann, soft-deleted by Bob: events created (Ann), deleted (Bob); no update event
        "Ann then deleted by Bob": _item(bl, "Ann then deleted by Bob", ann, bob, LATER, deleted_at=LATER),
        # updated_by set at creation (updated_at == created_at): one event, created (Ann)
        "Ann, never changed": _item(bl, "Ann, never changed", ann, ann),
        # updated_by names Bob but nothing changed after creation: one event, created (system)
        "system, Bob in updated_by only": _item(bl, "system, Bob in updated_by only", None, bob),
    }
    db.session.commit()
    return out


def _feed_ids(actor: str) -> set[int]:
    flt = activity.parse_filter({"model": "item", "actor": actor}, ZoneInfo("UTC"))
    page = activity.fetch_page(flt, limit=activity.MAX_LIMIT)
    assert page.next_cursor is None
    return {e.id for e in page.events}


def _list_ids(actor: str) -> set[int]:
    query = ActorFilter(Item).apply(db.session.query(Item), actor)
    return {it.id for it in query}


@pytest.mark.parametrize("actor, expected", [
    ("system", {"system then Ann", "system, Bob in updated_by only"}),
    ("ann@example.com", {"system then Ann", "Ann then deleted by Bob", "Ann, never changed"}),
    ("bob@example.com", {"Ann then deleted by Bob"}),
])
def test_list_actor_filter_and_feed_actor_hold_the_same_rows(rows, actor, expected):
    assert _list_ids(actor) == _feed_ids(actor) == {rows[title] for title in expected}


def test_the_predicate_is_the_feeds_events_by_id_and_by_nobody(rows):
    ann = db.session.query(User).filter_by(email="ann@example.com").one()
    by_ann = {it.id for it in db.session.query(Item).filter(row_has_event_by(state().spec_for(Item), ann.id))}
    by_system = {it.id for it in db.session.query(Item).filter(row_has_event_by(state().spec_for(Item), None))}
    assert by_ann == _feed_ids(str(ann.id))
    assert by_system == _feed_ids("system")


def _filter_arg(app: Flask, kind: type) -> str:
    """The query argument Flask-Admin reads for one filter of the items list (e.g. ``flt0_17``)."""
    [view] = [v for v in app.extensions["admin"][0]._views if getattr(v, "model", None) is Item]
    [(idx, flt)] = [(i, f) for i, f in enumerate(view._filters) if isinstance(f, kind)]
    return view.get_filter_arg(idx, flt)


@pytest.mark.parametrize("actor, shown", [
    ("system", {"system then Ann", "system, Bob in updated_by only"}),
    ("bob@example.com", {"Ann then deleted by Bob"}),
])
def test_items_list_filtered_by_actor_shows_the_rows_the_feed_shows(app, rows, admin_client, actor, shown):
    query = {f"flt0_{_filter_arg(app, ActorFilter)}": actor, f"flt1_{_filter_arg(app, DeletedFilter)}": "include"}
    body = admin_client.get("/admin/items/", query_string=query).get_data(as_text=True)
    assert {title for title in rows if title in body} == shown
