"""Behaviour of the admin model views, dashboard and activity page, driven as an admin through HTTP.

Every test runs on SQLite and PostgreSQL (conftest's parametrized ``database_url``).
"""
from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import event, insert, select

from admin_app.admin.model_views import ItemView
from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, User
from flask_activity.admin.filters import DeletedFilter
from flask_activity.audit import acting_as
from flask_activity.types import utcnow
from tests.conftest import PASSWORD

UTC = UTC



# --- helpers --------------------------------------------------------------------------


def _reload(model: type, pk: int) -> Any:
    """The row as committed now (ends the test session's transaction so no stale snapshot is read)."""
    db.session.rollback()
    return db.session.get(model, pk)


def _bucketlist(owner: User, title: str = "Travel", at: datetime | None = None) -> Bucketlist:
    with acting_as(None):
        kw = {"created_at": at, "updated_at": at} if at else {}
        bl = Bucketlist(title=title, owner=owner, **kw)
        db.session.add(bl)
        db.session.commit()
    return bl


def _item(bl: Bucketlist, title: str, at: datetime | None = None, **kw: Any) -> Item:
    with acting_as(None):
        if at:
            kw |= {"created_at": at, "updated_at": at}
        it = Item(title=title, bucketlist=bl, **kw)
        db.session.add(it)
        db.session.commit()
    return it


def _bulk_items(bl: Bucketlist, titles_and_times: list[tuple[str, datetime]]) -> None:
    rows = [dict(title=t, bucketlist_id=bl.id, done=False, created_at=at, updated_at=at) for t, at in titles_and_times]
    db.session.execute(insert(Item), rows)
    db.session.commit()


def _item_view(app: Flask) -> ItemView:
    views = [v for v in app.extensions["admin"][0]._views if isinstance(v, ItemView)]
    assert len(views) == 1
    return views[0]


def _deleted_filter_arg(app: Flask) -> str:
    """The query argument Flask-Admin reads for the items view's Deleted filter (e.g. ``flt0_16``)."""
    view = _item_view(app)
    matches = [(i, f) for i, f in enumerate(view._filters) if isinstance(f, DeletedFilter)]
    assert len(matches) == 1
    idx, flt = matches[0]
    return f"flt0_{view.get_filter_arg(idx, flt)}"


def _assert_aware_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0), value


def _list_titles(body: str, candidates: list[str]) -> set[str]:
    return {t for t in candidates if t in body}


# --- create / edit / delete -----------------------------------------------------------


def test_create_form_has_the_expected_fields(admin_client, admin_user):
    body = admin_client.get("/admin/items/new/").get_data(as_text=True)
    names = set(re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', body))
    assert {"title", "bucketlist", "done", "due_date", "csrf_token"} <= names
    assert not names & {"created_at", "updated_at", "deleted_at", "created_by", "updated_by"}
    assert 'data-url="/admin/items/ajax/lookup/?name=bucketlist"' in body
    bl = _bucketlist(admin_user, title="Travel")
    _bucketlist(admin_user, title="Cooking")
    found = admin_client.get("/admin/items/ajax/lookup/?name=bucketlist&query=Trav")
    assert found.status_code == 200 and found.get_json() == [[bl.id, "Travel"]]


def test_lookups_never_offer_a_soft_deleted_user_or_bucketlist(admin_client, admin_user, make_user):
    gone, kept = make_user("gone-owner@example.com"), make_user("kept-owner@example.com")
    gone.soft_delete()
    old_trip, new_trip = _bucketlist(admin_user, title="Trip old"), _bucketlist(admin_user, title="Trip new")
    old_trip.soft_delete()
    db.session.commit()
    owners = admin_client.get("/admin/bucketlists/ajax/lookup/?name=owner&query=-owner@").get_json()
    assert owners == [[kept.id, "kept-owner@example.com"]]
    lists = admin_client.get("/admin/items/ajax/lookup/?name=bucketlist&query=Trip").get_json()
    assert lists == [[new_trip.id, "Trip new"]]


def test_admin_creates_item_with_actor_and_aware_utc_timestamps(admin_client, admin_user):
    admin_id = admin_user.id
    bl = _bucketlist(admin_user)
    before = utcnow()
    r = admin_client.post_form("/admin/items/new/", {"title": "Climb Fuji", "bucketlist": str(bl.id),
                                                    "done": "y", "due_date": "2030-01-02"})
    after = utcnow()
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.session.rollback()
    item = db.session.scalar(select(Item).where(Item.title == "Climb Fuji"))
    assert item is not None
    assert (item.bucketlist_id, item.done, item.due_date) == (bl.id, True, date(2030, 1, 2))
    assert item.created_by_id == admin_id and item.updated_by_id == admin_id
    for value in (item.created_at, item.updated_at):
        _assert_aware_utc(value)
        assert before <= value <= after
    assert item.updated_at == item.created_at  # a new row has not been updated
    assert item.deleted_at is None


def test_admin_edit_advances_updated_at_and_records_the_editor(admin_client, admin_user):
    admin_id = admin_user.id
    bl = _bucketlist(admin_user)
    then = utcnow() - timedelta(hours=1)
    item = _item(bl, "Old title", at=then)
    assert item.updated_by_id is None and item.created_by_id is None
    assert admin_client.get(f"/admin/items/edit/?id={item.id}").status_code == 200
    r = admin_client.post_form(f"/admin/items/edit/?id={item.id}",
                               {"title": "New title", "bucketlist": str(bl.id), "due_date": ""})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    item = _reload(Item, item.id)
    assert item.title == "New title"
    _assert_aware_utc(item.updated_at)
    assert item.updated_at > then + timedelta(minutes=59)
    assert item.updated_by_id == admin_id
    assert item.created_at == then and item.created_by_id is None  # creation facts untouched


def test_delete_view_soft_deletes(admin_client, admin_user):
    admin_id = admin_user.id
    bl = _bucketlist(admin_user)
    item = _item(bl, "Doomed", at=utcnow() - timedelta(hours=1))
    r = admin_client.post_form("/admin/items/delete/", {"id": item.id, "url": "/admin/items/"})
    assert r.status_code == 302
    assert urlsplit(r.headers["Location"]).path == "/admin/items/"
    row = _reload(Item, item.id)
    assert row is not None, "the row must stay (soft delete)"
    _assert_aware_utc(row.deleted_at)
    assert row.updated_by_id == admin_id
    assert row.updated_at == row.deleted_at
    assert row.title == "Doomed"


def test_delete_action_on_selected_rows_is_also_soft(admin_client, admin_user):
    admin_id = admin_user.id
    bl = _bucketlist(admin_user)
    a, b, _keep = (_item(bl, t) for t in ("Mass A", "Mass B", "Keep me"))
    r = admin_client.post_form("/admin/items/action/", {"action": "delete", "rowid": [a.id, b.id],
                                                       "url": "/admin/items/"})
    assert r.status_code == 302
    db.session.rollback()
    rows = {i.title: i for i in db.session.scalars(select(Item))}
    assert set(rows) == {"Mass A", "Mass B", "Keep me"}
    for title in ("Mass A", "Mass B"):
        assert rows[title].deleted_at is not None
        assert rows[title].updated_by_id == admin_id
    assert rows["Keep me"].deleted_at is None


def test_actions_ignore_row_ids_that_are_not_numbers(admin_client, admin_user):
    bl = _bucketlist(admin_user)
    item = _item(bl, "Untouched")
    for action in ("delete", "restore"):
        r = admin_client.post_form("/admin/items/action/", {"action": action, "rowid": ["abc", "1 OR 1=1"],
                                                           "url": "/admin/items/"})
        assert r.status_code == 302
    row = _reload(Item, item.id)
    assert row.deleted_at is None and row.title == "Untouched"


@pytest.mark.parametrize("bad_id", ["abc", "1.5", "-1", "\u00b2", "99999999999999999999"])
def test_malformed_record_ids_are_record_not_found_not_server_errors(admin_client, admin_user, bad_id):
    bl = _bucketlist(admin_user)
    item = _item(bl, "Bystander")
    for url in (f"/admin/items/details/?id={bad_id}", f"/admin/items/edit/?id={bad_id}"):
        r = admin_client.get(url)
        assert r.status_code == 302, (url, r.status_code)
        assert "Record does not exist." in admin_client.get(r.headers["Location"]).get_data(as_text=True)
    r = admin_client.post_form("/admin/items/delete/", {"id": bad_id, "url": "/admin/items/"})
    assert r.status_code == 302
    r = admin_client.post_form("/admin/items/action/", {"action": "delete", "rowid": [bad_id],
                                                       "url": "/admin/items/"})
    assert r.status_code == 302
    row = _reload(Item, item.id)
    assert row.deleted_at is None and row.title == "Bystander"


def test_create_with_a_malformed_bucketlist_id_is_a_form_error(admin_client, admin_user):
    _bucketlist(admin_user)
    r = admin_client.post_form("/admin/items/new/", {"title": "Orphan", "bucketlist": "abc"})
    assert r.status_code == 200
    db.session.rollback()
    assert db.session.scalar(select(Item).where(Item.title == "Orphan")) is None


def test_deleting_an_already_deleted_row_keeps_its_deletion_time(admin_client, admin_user):
    bl = _bucketlist(admin_user)
    item = _item(bl, "Gone before")
    with acting_as(None):
        item.soft_delete()
        db.session.commit()
    first = item.deleted_at
    admin_client.post_form("/admin/items/delete/", {"id": item.id, "url": "/admin/items/"})
    row = _reload(Item, item.id)
    assert row.deleted_at == first and row.updated_by_id is None


# --- list, Deleted filter, export -----------------------------------------------------


def _live_and_deleted(admin_user: User) -> tuple[Item, Item]:
    bl = _bucketlist(admin_user)
    live = _item(bl, "Live item 3b1")
    gone = _item(bl, "Deleted item 8c4")
    with acting_as(None):
        gone.soft_delete()
        db.session.commit()
    return live, gone


TITLES = ["Live item 3b1", "Deleted item 8c4"]


def test_list_hides_deleted_rows_by_default(admin_client, admin_user):
    _live_and_deleted(admin_user)
    body = admin_client.get("/admin/items/").get_data(as_text=True)
    assert _list_titles(body, TITLES) == {"Live item 3b1"}


@pytest.mark.parametrize(("value", "expected"), [
    ("include", {"Live item 3b1", "Deleted item 8c4"}),
    ("only", {"Deleted item 8c4"}),
    ("hide", {"Live item 3b1"}),
])
def test_deleted_filter_on_list_and_csv_export(app, admin_client, admin_user, value, expected):
    _live_and_deleted(admin_user)
    arg = _deleted_filter_arg(app)
    page = admin_client.get(f"/admin/items/?{arg}={value}")
    assert page.status_code == 200
    assert _list_titles(page.get_data(as_text=True), TITLES) == expected

    export = admin_client.get(f"/admin/items/export/csv/?{arg}={value}", buffered=True)
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert _list_titles(export.get_data(as_text=True), TITLES) == expected


def test_csv_export_hides_deleted_rows_by_default(admin_client, admin_user):
    _live_and_deleted(admin_user)
    export = admin_client.get("/admin/items/export/csv/", buffered=True)
    assert export.status_code == 200
    assert _list_titles(export.get_data(as_text=True), TITLES) == {"Live item 3b1"}


def test_list_page_offers_the_deleted_filter_under_the_argument_the_tests_use(app, admin_client, admin_user):
    """The filter argument used above is the one the page's filter UI sends (read from the page)."""
    body = admin_client.get("/admin/items/").get_data(as_text=True)
    m = re.search(r'<div id="filter-groups-data" class="d-none">(.*?)</div>', body, re.S)
    assert m, "no filter definitions on the list page"
    groups = json.loads(html.unescape(m.group(1)))
    (deleted,) = groups["Deleted"]
    assert f"flt0_{deleted['arg']}" == _deleted_filter_arg(app)
    assert [value for value, _label in deleted["options"]] == ["hide", "include", "only"]


def test_restore_action_clears_deleted_at_and_records_the_restorer(admin_client, admin_user):
    admin_id = admin_user.id
    _live, gone = _live_and_deleted(admin_user)
    deleted_at = gone.deleted_at
    assert gone.updated_by_id is None
    r = admin_client.post_form("/admin/items/action/", {"action": "restore", "rowid": gone.id,
                                                       "url": "/admin/items/"})
    assert r.status_code == 302
    row = _reload(Item, gone.id)
    assert row.deleted_at is None
    assert row.updated_by_id == admin_id
    assert row.updated_at > deleted_at
    body = admin_client.get("/admin/items/").get_data(as_text=True)
    assert _list_titles(body, TITLES) == set(TITLES)


def test_items_list_page_issues_no_count_query(app, admin_client, admin_user):
    bl = _bucketlist(admin_user)
    _bulk_items(bl, [(f"row {i}", utcnow() - timedelta(minutes=i)) for i in range(60)])
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    arg = _deleted_filter_arg(app)
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        for url in ("/admin/items/", "/admin/items/?page=1", f"/admin/items/?{arg}=include&search=row"):
            r = admin_client.get(url)
            assert r.status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert any("items" in s.lower() for s in statements), "the listener saw the list queries"
    counting = [s for s in statements if "count(" in s.lower()]
    assert counting == []


def test_list_shows_at_most_one_page_and_a_next_link(admin_client, admin_user):
    bl = _bucketlist(admin_user)
    now = utcnow()
    _bulk_items(bl, [(f"paged {i:02d}", now - timedelta(minutes=i)) for i in range(51)])
    body = admin_client.get("/admin/items/").get_data(as_text=True)
    shown = set(re.findall(r"paged \d\d", body))
    assert len(shown) == 50 and "paged 50" not in shown  # newest first, 50 a page
    assert "page=1" in body
    second = admin_client.get("/admin/items/?page=1").get_data(as_text=True)
    assert set(re.findall(r"paged \d\d", second)) == {"paged 50"}


# --- time zone ------------------------------------------------------------------------


WINTER = datetime(2024, 1, 15, 12, 0, 0, tzinfo=UTC)   # 13:00 CET in Paris
SUMMER = datetime(2024, 7, 15, 12, 0, 0, tzinfo=UTC)   # 14:00 CEST in Paris


def test_list_and_details_show_times_in_app_timezone_with_zone_named(app, admin_client, admin_user):
    app.config["APP_TIMEZONE"] = "Europe/Paris"
    bl = _bucketlist(admin_user, at=WINTER)
    winter = _item(bl, "Winter item", at=WINTER)
    _item(bl, "Summer item", at=SUMMER)
    body = admin_client.get("/admin/items/").get_data(as_text=True)
    assert "2024-01-15 13:00:00 CET" in body
    assert "2024-07-15 14:00:00 CEST" in body
    assert "2024-01-15 12:00:00" not in body and "2024-07-15 12:00:00" not in body
    assert "Europe/Paris" in body
    details = admin_client.get(f"/admin/items/details/?id={winter.id}").get_data(as_text=True)
    assert "2024-01-15 13:00:00 CET" in details


def test_export_keeps_machine_readable_utc_times(app, admin_client, admin_user):
    app.config["APP_TIMEZONE"] = "Europe/Paris"
    bl = _bucketlist(admin_user, at=WINTER)
    _item(bl, "Winter item", at=WINTER)
    text = admin_client.get("/admin/items/export/csv/", buffered=True).get_data(as_text=True)
    assert "2024-01-15T12:00:00+00:00" in text


def test_dashboard_shows_times_in_app_timezone_with_zone_named(app, admin_client, admin_user):
    app.config["APP_TIMEZONE"] = "Europe/Paris"
    bl = _bucketlist(admin_user, at=WINTER)
    _item(bl, "Summer item", at=SUMMER)
    body = admin_client.get("/admin/").get_data(as_text=True)
    assert "2024-07-15 14:00:00 CEST" in body  # the item
    assert "2024-01-15 13:00:00 CET" in body   # the bucketlist
    assert "Time (Europe/Paris)" in body


def test_times_follow_a_changed_app_timezone_per_request(app, admin_client, admin_user):
    bl = _bucketlist(admin_user, at=WINTER)
    _item(bl, "Winter item", at=WINTER)
    app.config["APP_TIMEZONE"] = "UTC"
    assert "2024-01-15 12:00:00 UTC" in admin_client.get("/admin/items/").get_data(as_text=True)
    app.config["APP_TIMEZONE"] = "Asia/Tokyo"
    assert "2024-01-15 21:00:00 JST" in admin_client.get("/admin/items/").get_data(as_text=True)


# --- dashboard and activity -----------------------------------------------------------


def _dashboard_counts(body: str, model: str, action: str) -> tuple[int, int]:
    shown = {"item": "Items", "bucketlist": "Bucketlists", "user": "Users"}[model]  # named as the navbar names it
    m = re.search(rf'<td>{shown} <span class="action-{action}">{action}</span></td>\s*'
                  r'<td><a [^>]*>(\d+)</a></td>\s*<td><a [^>]*>(\d+)</a></td>', body)
    assert m, f"no count row for {model} {action}"
    return int(m.group(1)), int(m.group(2))


def test_dashboard_shows_the_latest_20_events(admin_client, admin_user):
    now = utcnow()
    bl = _bucketlist(admin_user, at=now - timedelta(days=1))
    _bulk_items(bl, [(f"dash item {i:02d}", now - timedelta(minutes=i + 1)) for i in range(25)])
    body = admin_client.get("/admin/").get_data(as_text=True)
    labels = re.findall(r'<td class="label-cell">([^<]*)</td>', body)
    # newest first: the admin user's creation (at fixture time), then the 19 newest items
    assert labels == [admin_user.email] + [f"dash item {i:02d}" for i in range(19)]


def test_dashboard_counts_events_today_and_in_the_last_7_days(admin_client, admin_user):
    now = utcnow()
    bl = _bucketlist(admin_user, at=now - timedelta(days=30))
    _bulk_items(bl, [("today a", now), ("today b", now - timedelta(microseconds=1)),
                     ("two days ago", now - timedelta(days=2)), ("eight days ago", now - timedelta(days=8))])
    with acting_as(None):
        gone = db.session.scalar(select(Item).where(Item.title == "two days ago"))
        gone.soft_delete()  # deleted now
        db.session.commit()
    body = admin_client.get("/admin/").get_data(as_text=True)
    assert _dashboard_counts(body, "item", "created") == (2, 3)
    assert _dashboard_counts(body, "item", "deleted") == (1, 1)
    assert _dashboard_counts(body, "item", "updated") == (0, 0)  # a deletion is not also an update
    assert _dashboard_counts(body, "bucketlist", "created") == (0, 0)
    assert _dashboard_counts(body, "user", "created")[1] == 1


def test_activity_page_has_older_link_only_when_more_than_50_events(admin_client, admin_user):
    now = utcnow()
    bl = _bucketlist(admin_user, at=now - timedelta(days=1))  # the oldest event
    # events: admin user created + bucketlist created + 48 items = exactly 50
    _bulk_items(bl, [(f"feed item {i:02d}", now - timedelta(minutes=i + 1)) for i in range(48)])
    body = admin_client.get("/admin/activity/").get_data(as_text=True)
    assert len(re.findall(r'<td class="label-cell">', body)) == 50
    assert "Older" not in body

    _bulk_items(bl, [("feed item 48", now - timedelta(minutes=49))])  # the 51st event
    body = admin_client.get("/admin/activity/").get_data(as_text=True)
    assert len(re.findall(r'<td class="label-cell">', body)) == 50
    m = re.search(r'<a [^>]*rel="next" href="([^"]+)">Older', body)
    assert m, "no Older link with 51 events"
    older = admin_client.get(m.group(1).replace("&amp;", "&"))
    assert older.status_code == 200
    rest = re.findall(r'<td class="label-cell">([^<]*)</td>', older.get_data(as_text=True))
    assert rest == ["Travel"]  # only the oldest event, the bucketlist's creation
    assert "Older" not in older.get_data(as_text=True)


# --- users ----------------------------------------------------------------------------


def test_admin_creates_user_with_set_password_who_can_then_log_in(app, admin_client, admin_user):
    admin_id = admin_user.id
    form = admin_client.get("/admin/users/new/").get_data(as_text=True)
    names = set(re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', form))
    assert "new_password" in names and "password_hash" not in names
    assert "Set password" in form
    r = admin_client.post_form("/admin/users/new/", {"email": "New.Person@Example.com", "display_name": "New",
                                                    "role": "viewer", "active": "y",
                                                    "new_password": "a-strong-password"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.session.rollback()
    user = db.session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert user is not None and user.role == "viewer" and user.created_by_id == admin_id
    assert "a-strong-password" not in user.password_hash

    c = app.test_client()
    assert c.login("new.person@example.com", "wrong-password-x").status_code == 401
    r = c.login("new.person@example.com", "a-strong-password")
    assert r.status_code == 302
    assert c.get("/admin/").status_code == 200


def test_creating_a_user_without_a_password_is_refused(admin_client, admin_user):
    r = admin_client.post_form("/admin/users/new/", {"email": "nopass@example.com", "role": "viewer",
                                                    "active": "y", "new_password": ""})
    assert r.status_code == 200  # the form again, with the error
    assert "needs a password" in r.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(User).where(User.email == "nopass@example.com")) is None


def test_admin_can_edit_a_user_without_changing_the_email(admin_client, admin_user, make_user):
    uid = make_user("same.email@example.com", "viewer").id
    r = admin_client.post_form(f"/admin/users/edit/?id={uid}", {"email": "same.email@example.com",
                                                               "display_name": "Renamed", "role": "admin",
                                                               "active": "y", "new_password": ""})
    assert r.status_code == 302, re.findall(r"<li>([^<]*)</li>", r.get_data(as_text=True))
    row = _reload(User, uid)
    assert (row.display_name, row.role) == ("Renamed", "admin")


def test_editing_a_user_to_another_users_email_is_refused(admin_client, admin_user, make_user):
    uid = make_user("first@example.com", "viewer").id
    make_user("second@example.com", "viewer")
    r = admin_client.post_form(f"/admin/users/edit/?id={uid}", {"email": "second@example.com", "role": "viewer",
                                                               "active": "y", "new_password": ""})
    assert r.status_code == 200
    assert "Already exists." in r.get_data(as_text=True)
    assert _reload(User, uid).email == "first@example.com"


def test_editing_a_user_keeps_the_password_unless_a_new_one_is_set(app, admin_client, admin_user, make_user):
    user = make_user("edit.me@example.com", "viewer")
    uid, old_hash = user.id, user.password_hash
    form = admin_client.get(f"/admin/users/edit/?id={uid}").get_data(as_text=True)
    assert "password_hash" not in form and old_hash not in form
    base = {"email": "edit.me@example.com", "display_name": "Edited", "role": "viewer", "active": "y"}
    assert admin_client.post_form(f"/admin/users/edit/?id={uid}", {**base, "new_password": ""}).status_code == 302
    row = _reload(User, uid)
    assert row.display_name == "Edited" and row.password_hash == old_hash
    assert app.test_client().login("edit.me@example.com", PASSWORD).status_code == 302

    assert admin_client.post_form(f"/admin/users/edit/?id={uid}",
                                  {**base, "new_password": "another-password"}).status_code == 302
    assert _reload(User, uid).password_hash != old_hash
    assert app.test_client().login("edit.me@example.com", PASSWORD).status_code == 401
    assert app.test_client().login("edit.me@example.com", "another-password").status_code == 302
