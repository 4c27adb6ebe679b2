"""Writes through the admin that are based on an old copy are refused and said, never written
(flask_activity.admin.guarded, the audit mixin's version). Races between a request's read and its UPDATE are made
here by another connection's write from a before_flush hook: the UPDATE's own WHERE refuses them."""
from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.orm import Session

from admin_app.extensions import db
from admin_app.models import Item
from flask_activity import acting_as
from flask_activity.admin.guarded import OPENED
from flask_activity.types import utcnow
from tests import factories

_OPENED = re.compile(rf'name="{OPENED}"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="{OPENED}"')


def opened_version(page: str) -> str:
    found = _OPENED.search(page)
    assert found, "the edit form carries no opened version"
    return found.group(1) or found.group(2)


@contextmanager
def meanwhile(write: Callable[[Any], None]) -> Iterator[None]:
    """``write(connection)`` on another connection, committed, just before this request's first flush."""
    done: list[bool] = []

    def other_admin(session: Session, *_: object) -> None:
        if not done and any(isinstance(o, Item) for o in session.dirty):
            done.append(True)
            with db.engine.connect() as other:
                write(other)
                other.commit()

    event.listen(Session, "before_flush", other_admin)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", other_admin)
    assert done, "the racing write never ran"


def other_edit(item_id: int, user_id: int, title: str) -> Callable[[Any], None]:
    return lambda conn: conn.execute(update(Item).where(Item.id == item_id).values(
        title=title, version=Item.version + 1, updated_at=utcnow(), updated_by_id=user_id))


def other_delete(item_id: int, user_id: int) -> Callable[[Any], None]:
    now = utcnow()
    return lambda conn: conn.execute(update(Item).where(Item.id == item_id).values(
        deleted_at=now, version=Item.version + 1, updated_at=now, updated_by_id=user_id))


def fresh(item_id: int) -> Item:
    db.session.expire_all()
    item = db.session.get(Item, item_id)
    assert item is not None
    return item


def test_a_form_opened_before_someone_elses_save_is_refused_and_shown_with_the_current_values(
        admin_client, admin_user, make_user):
    other = make_user("other-admin@example.com", "admin")
    item = factories.item(factories.bucketlist(admin_user), "as opened")
    page = admin_client.get(f"/admin/items/edit/?id={item.id}").get_data(as_text=True)
    opened = opened_version(page)
    with acting_as(other.id):
        item.title = "saved by the other admin"
        db.session.commit()

    form = {OPENED: opened, "title": "my stale edit", "bucketlist": str(item.bucketlist_id)}
    r = admin_client.post_form(f"/admin/items/edit/?id={item.id}", form)
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 200
    assert f"This item was changed by {other.email} at " in page and "since you opened it" in page
    assert 'value="saved by the other admin"' in page and "my stale edit" not in page  # the current values
    assert fresh(item.id).title == "saved by the other admin"

    r = admin_client.post_form(f"/admin/items/edit/?id={item.id}", {**form, OPENED: opened_version(page)})
    assert r.status_code == 302  # seen the current values, saved again: now it holds
    assert (fresh(item.id).title, fresh(item.id).version) == ("my stale edit", 3)


def test_an_edit_whose_row_changes_between_its_read_and_its_update_is_refused_by_the_statement(
        admin_client, admin_user, make_user):
    other = make_user("other-admin@example.com", "admin")
    item = factories.item(factories.bucketlist(admin_user), "before")
    page = admin_client.get(f"/admin/items/edit/?id={item.id}").get_data(as_text=True)
    form = {OPENED: opened_version(page), "title": "mine", "bucketlist": str(item.bucketlist_id)}
    with meanwhile(other_edit(item.id, other.id, "theirs")):
        r = admin_client.post_form(f"/admin/items/edit/?id={item.id}", form)
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 200 and f"This item was changed by {other.email} at " in page
    row = fresh(item.id)
    assert (row.title, row.updated_by_id, row.version) == ("theirs", other.id, 2)


def test_an_edit_racing_a_delete_is_refused_and_the_deleter_stays_recorded(admin_client, admin_user, make_user):
    other = make_user("other-admin@example.com", "admin")
    item = factories.item(factories.bucketlist(admin_user), "doomed")
    page = admin_client.get(f"/admin/items/edit/?id={item.id}").get_data(as_text=True)
    form = {OPENED: opened_version(page), "title": "edited late", "bucketlist": str(item.bucketlist_id)}
    with meanwhile(other_delete(item.id, other.id)):
        r = admin_client.post_form(f"/admin/items/edit/?id={item.id}", form)
    page = html.unescape(r.get_data(as_text=True))
    assert f"This item was deleted by {other.email} at " in page and "restore it to edit it" in page
    row = fresh(item.id)
    assert (row.title, row.updated_by_id, row.updated_at) == ("doomed", other.id, row.deleted_at)


def test_a_delete_racing_a_delete_keeps_the_first_deleter_and_tells_the_second(admin_client, admin_user, make_user):
    other = make_user("other-admin@example.com", "admin")
    item = factories.item(factories.bucketlist(admin_user), "twice")
    with meanwhile(other_delete(item.id, other.id)):
        r = admin_client.post_form("/admin/items/delete/", {"id": str(item.id)}, follow_redirects=True)
    assert f"This item was deleted by {other.email} at " in html.unescape(r.get_data(as_text=True))
    row = fresh(item.id)
    assert (row.updated_by_id, row.version) == (other.id, 2)


def test_bulk_delete_and_restore_skip_rows_that_changed_meanwhile_and_say_how_many(
        admin_client, admin_user, make_user):
    other = make_user("other-admin@example.com", "admin")
    bucketlist = factories.bucketlist(admin_user)
    items = [factories.item(bucketlist, f"bulk {i}") for i in range(3)]
    ids = [str(i.id) for i in items]
    with meanwhile(other_edit(items[0].id, other.id, "edited meanwhile")):
        r = admin_client.post_form("/admin/items/action/", {"action": "delete", "rowid": ids},
                                   follow_redirects=True)
    page = html.unescape(r.get_data(as_text=True))
    assert "2 record(s) deleted. 1 skipped: already deleted, or changed by someone else meanwhile." in page
    assert fresh(items[0].id).deleted_at is None and fresh(items[0].id).title == "edited meanwhile"
    assert all(fresh(i.id).deleted_at is not None for i in items[1:])

    with meanwhile(other_edit(items[1].id, other.id, "restored by nobody")):
        r = admin_client.post_form("/admin/items/action/", {"action": "restore", "rowid": ids},
                                   follow_redirects=True)
    page = html.unescape(r.get_data(as_text=True))
    assert "1 record(s) restored. 2 skipped: already restored, or changed by someone else meanwhile." in page
    assert fresh(items[1].id).deleted_at is not None  # the restore lost its race: nothing written
    assert fresh(items[2].id).deleted_at is None and fresh(items[2].id).updated_by_id == admin_user.id


def test_every_orm_write_moves_the_version_on(admin_user):
    item = factories.item(factories.bucketlist(admin_user), "counted")
    assert item.version == 1
    item.title = "once"
    db.session.commit()
    item.soft_delete()
    db.session.commit()
    item.restore()
    db.session.commit()
    assert fresh(item.id).version == 4
