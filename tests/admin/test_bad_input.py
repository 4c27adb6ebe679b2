"""Hostile or odd input is a 400 (or exit 2) with a message, never a 500, on both databases."""
from datetime import UTC, datetime, timedelta

import pytest

from admin_app.extensions import db
from admin_app.models import Item, User
from flask_activity.audit import acting_as
from tests import factories

UTC = UTC


@pytest.mark.parametrize("url", [
    "/admin/activity/feed.json?actor=a%00b", "/admin/activity/?since=2026%00", "/admin/users/?search=a%00b",
    "/admin/bucketlists/ajax/lookup/?name=owner&query=a%00",
])
def test_nul_byte_in_a_parameter_is_400(viewer_client, url):
    r = viewer_client.get(url)
    assert r.status_code == 400
    assert "NUL" in r.get_data(as_text=True)


def test_nul_byte_in_login_email_is_400_not_500(client):
    token = client.csrf()
    r = client.post("/login", data={"email": "a\x00b@x.io", "password": "whatever1", "csrf_token": token})
    assert r.status_code == 400


@pytest.mark.parametrize("actor", ["%C2%B2", "99999999999999999999999", "-1"])
@pytest.mark.parametrize("path", ["/admin/activity/feed.json", "/admin/activity/", "/admin/activity/export.csv"])
def test_odd_actor_ids_are_400(viewer_client, actor, path):
    r = viewer_client.get(f"{path}?actor={actor}")
    assert r.status_code == 400


@pytest.mark.parametrize("query", ["since=0001-01-01T00:00:00%2B01:00", "until=9999-12-31T23:59-01:00",
                                   "since=1066-10-14"])
def test_out_of_range_dates_are_400(viewer_client, query):
    r = viewer_client.get(f"/admin/activity/feed.json?{query}")
    assert r.status_code == 400 and "out of range" in r.get_json()["error"]


@pytest.mark.parametrize("args", [["--actor", "²"], ["--actor", "99999999999999999999"],
                                  ["--since", "0001-01-01T00:00+01:00"]])
def test_cli_odd_actor_or_date_exits_2_with_one_line(runner, args):
    result = runner.invoke(args=["activity", *args])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and result.output.startswith("error:")


@pytest.mark.parametrize("query", ["export_type=x", "endpoint=x", "_method=POST", "_external=1", "page=-1",
                                   "page=99999999999999999999"])
def test_odd_list_arguments_do_not_break_list_pages(viewer_client, query):
    r = viewer_client.get(f"/admin/users/?{query}")
    assert r.status_code == 200


def test_ajax_lookup_with_negative_offset_is_not_an_error(admin_client, admin_user):
    factories.bucketlist(admin_user, "Findable")
    r = admin_client.get("/admin/items/ajax/lookup/?name=bucketlist&query=Find&offset=-1")
    assert r.status_code == 200 and "Findable" in r.get_data(as_text=True)


def test_older_and_csv_links_keep_the_exact_window(viewer_client, admin_user):
    """A window starting at .5 s must not widen to the whole second on page 2 or in the CSV."""
    bl = factories.bucketlist(admin_user)
    bl.created_at = bl.updated_at = datetime(2024, 1, 1, tzinfo=UTC)
    db.session.commit()
    base = datetime(2025, 1, 1, 10, 0, 0, tzinfo=UTC)
    factories.bulk_items(bl, 3, base + timedelta(microseconds=200_000))  # outside the window
    factories.bulk_items(bl, 3, base + timedelta(microseconds=700_000))  # inside
    html = viewer_client.get("/admin/activity/?model=item&since=2025-01-01T10:00:00.5%2B00:00&limit=2").get_data(
        as_text=True)
    older = html.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    page2 = viewer_client.get(older.replace("/admin/activity/?", "/admin/activity/feed.json?")).get_json()
    assert [e["at"] for e in page2["events"]] == ["2025-01-01T10:00:00.700000+00:00"]
    csv_url = next(p for p in html.split('href="') if "export.csv" in p)
    csv_url = csv_url.split('"')[0].replace("&amp;", "&")
    rows = viewer_client.get(csv_url).get_data(as_text=True).strip().splitlines()[1:]
    assert len(rows) == 3


def test_window_in_the_repeated_daylight_saving_hour_is_kept(viewer_client, app):
    app.config["APP_TIMEZONE"] = "Europe/Paris"
    html = viewer_client.get("/admin/activity/?since=2025-10-26T02:30%2B01:00").get_data(as_text=True)
    link = html.split("export.csv?")[1].split('"')[0].replace("&amp;", "&")
    assert "since=2025-10-26T01:30:00%2B00:00" in link


def test_editing_a_deleted_row_is_refused_so_the_deleter_stays_recorded(admin_client, admin_user, viewer_user):
    bl = factories.bucketlist(admin_user)
    it = factories.item(bl, "keep me deleted")
    viewer_id = viewer_user.id
    with acting_as(viewer_id):
        it.soft_delete()
        db.session.commit()
    r = admin_client.post_form(f"/admin/items/edit/?id={it.id}", {"title": "renamed", "bucketlist": str(bl.id)},
                               follow_redirects=True)
    assert f"This item was deleted by {viewer_user.email} at " in r.get_data(as_text=True)
    assert "restore it to edit it. Nothing was saved." in r.get_data(as_text=True)
    db.session.expire_all()
    row = db.session.get(Item, it.id)
    assert (row.title, row.updated_by_id) == ("keep me deleted", viewer_id)


def test_admin_user_form_lowercases_email_and_refuses_case_duplicates(admin_client, viewer_user):
    r = admin_client.post_form("/admin/users/new/", {"email": "Viewer@Example.COM", "display_name": "dup",
                                                     "role": "viewer", "active": "y", "new_password": "longenough1"})
    assert r.status_code == 200  # form shown again with the error
    body = r.get_data(as_text=True)
    assert "IntegrityError" not in body and "UniqueViolation" not in body
    assert "Already exists" in body
    assert db.session.query(User).filter(User.email.ilike("viewer@example.com")).count() == 1


def test_admin_user_form_refuses_a_non_email(admin_client):
    r = admin_client.post_form("/admin/users/new/", {"email": "not an email", "display_name": "x", "role": "viewer",
                                                     "active": "y", "new_password": "longenough1"})
    assert r.status_code == 200 and "Enter an email address." in r.get_data(as_text=True)
    assert db.session.query(User).filter_by(display_name="x").count() == 0
