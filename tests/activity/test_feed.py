"""The feed over HTTP: HTML page, feed.json and the dashboard; bad input is a 400 with a message."""
import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests import factories

UTC = UTC


@pytest.fixture
def many_items(app, admin_user):
    bl = factories.bucketlist(admin_user)
    factories.bulk_items(bl, 120, datetime(2026, 5, 1, tzinfo=UTC), step=timedelta(seconds=1))
    return bl


def test_feed_json_has_the_documented_shape(viewer_client, many_items):
    r = viewer_client.get("/admin/activity/feed.json?limit=3")
    assert r.status_code == 200 and r.is_json
    body = r.get_json()
    assert set(body) == {"events", "next_cursor"} and len(body["events"]) == 3
    ev = body["events"][0]
    assert set(ev) == {"at", "model", "id", "action", "actor", "label"}
    at = datetime.fromisoformat(ev["at"])
    assert at.utcoffset() == timedelta(0)
    assert isinstance(body["next_cursor"], str)


def test_feed_json_pages_with_the_cursor_until_exhausted(viewer_client, many_items):
    seen: list[tuple[str, int, str]] = []
    cursor: str | None = None
    while True:
        url = "/admin/activity/feed.json?model=item&limit=50" + (f"&cursor={cursor}" if cursor else "")
        body = viewer_client.get(url).get_json()
        seen.extend((e["model"], e["id"], e["action"]) for e in body["events"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 120


def test_feed_json_actor_is_id_and_email(viewer_client, admin_user, app):
    bl = factories.bucketlist(admin_user, actor=admin_user)
    body = viewer_client.get("/admin/activity/feed.json?model=bucketlist").get_json()
    assert body["events"][0]["actor"] == {"id": admin_user.id, "email": "admin@example.com"}
    assert body["events"][0]["label"] == bl.title


@pytest.mark.parametrize("query, fragment", [
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=abc", "limit"),
    ("since=31/12/2026", "since"), ("until=tomorrow", "until"), ("model=invoice", "unknown model"),
    ("action=burned", "unknown action"), ("cursor=not-a-cursor", "cursor"), ("actor=nobody@x.io", "no user"),
    ("since=2026-02-01&until=2026-01-01", "earlier"),
])
@pytest.mark.parametrize("path", ["/admin/activity/feed.json", "/admin/activity/", "/admin/activity/export.csv"])
def test_bad_input_is_400_with_a_message(viewer_client, query, fragment, path):
    if path.endswith(".csv") and query.startswith(("limit", "cursor")):
        pytest.skip("the export is the whole filtered feed: it takes no limit or cursor")
    r = viewer_client.get(f"{path}?{query}")
    assert r.status_code == 400
    text = r.get_json()["error"] if r.is_json else r.get_data(as_text=True)
    if path == "/admin/activity/":  # the page says it in its form's words (From, To (before), By)
        fragment = {"earlier": "later than From"}.get(fragment, fragment)
    assert fragment in text


def test_forged_cursor_is_400(viewer_client, many_items):
    cursor = viewer_client.get("/admin/activity/feed.json?limit=5").get_json()["next_cursor"]
    tampered = cursor[:-2] + ("xx" if not cursor.endswith("xx") else "yy")
    r = viewer_client.get(f"/admin/activity/feed.json?cursor={tampered}")
    assert r.status_code == 400 and "cursor" in r.get_json()["error"]


def test_activity_page_filters_and_links_older_with_the_same_filters(viewer_client, many_items):
    r = viewer_client.get("/admin/activity/?model=item&action=created")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Older" in html and "cursor=" in html
    assert "Download CSV" in html and "export.csv?model=item&amp;action=created" in html
    older = html.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    assert "model=item" in older and "action=created" in older
    assert viewer_client.get(older).status_code == 200


def test_dashboard_shows_latest_events_and_counts(viewer_client, admin_user, app):
    bl = factories.bucketlist(admin_user, "Dashboard list", actor=admin_user)
    factories.item(bl, "Visible on dashboard", actor=admin_user)
    html = viewer_client.get("/admin/").get_data(as_text=True)
    assert "Visible on dashboard" in html and "Dashboard list" in html
    assert "Full activity feed" in html
    assert "/admin/activity/?model=item&amp;action=created&amp;since=" in html


@pytest.mark.parametrize(("query", "field", "says"), [
    ("since=yesterday", "since", "From: 'yesterday' is not a date"),
    ("actor=nobody%40example.com", "actor", "By: no user 'nobody@example.com'"),
    ("since=2026-01-02&until=2026-01-01", "until", "To (before) must be later than From."),
    ("model=spaceship", "model", "Model: unknown model 'spaceship'"),
])
def test_a_bad_filter_is_the_feed_page_again_with_the_error_beside_its_field(admin_client, query, field, says):
    r = admin_client.get(f"/admin/activity/?{query}")
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 400
    assert says in page and 'id="filter-error"' in page
    assert re.search(rf'class="[^"]*is-invalid"[^>]*id="{field}"', page), page[:2000]
    assert "Log out" in page  # the navbar: the admin's own page, not a bare error page
    typed = dict(pair.split("=") for pair in query.split("&"))
    if field in ("since", "actor"):
        assert f'value="{html.unescape(typed[field].replace("%40", "@"))}"' in page  # kept as typed
    json = admin_client.get(f"/admin/activity/feed.json?{query}")
    assert json.status_code == 400 and "error" in json.get_json()  # the API keeps its {error}


def test_one_records_events_through_the_feed_the_json_the_cli_and_its_details_page(admin_client, admin_user,
                                                                                    runner):
    bucketlist = factories.bucketlist(admin_user)
    mine, other = factories.item(bucketlist, "Mine"), factories.item(bucketlist, "Other")
    factories.soft_delete(mine, actor=admin_user)

    body = admin_client.get(f"/admin/activity/feed.json?model=item&id={mine.id}").get_json()
    assert [(e["id"], e["action"]) for e in body["events"]] == [(mine.id, "deleted"), (mine.id, "created")]
    page = html.unescape(admin_client.get(f"/admin/activity/?model=item&id={mine.id}").get_data(as_text=True))
    assert "Only the events of" in page and f"Items #{mine.id}</a>" in page and "Other" not in page
    assert f'name="id" value="{mine.id}"' in page  # filtering again keeps the record
    out = runner.invoke(args=["activity", "--record", f"item:{mine.id}", "--format", "json"])
    assert out.exit_code == 0 and {e["id"] for e in json.loads(out.output)["events"]} == {mine.id}
    bad = runner.invoke(args=["activity", "--record", "item"])
    assert bad.exit_code == 2 and "--record: give MODEL:ID" in bad.stderr
    assert admin_client.get("/admin/activity/feed.json?id=3").status_code == 400  # a record needs its one model

    details = html.unescape(admin_client.get(f"/admin/items/details/?id={mine.id}").get_data(as_text=True))
    assert 'id="history"' in details and f"/admin/activity/?model=item&id={mine.id}" in details
    history = details.split('id="history"')[1]
    assert "deleted" in history and "created" in history and f">{other.id}<" not in history


def test_a_parents_details_page_shows_the_latest_events_of_what_belongs_to_it(admin_client, admin_user, make_user):
    from flask_activity import activity as query
    from flask_activity.activity import ActivityFilter

    other_owner = make_user("someone-else@example.com")
    bucketlist, elsewhere = factories.bucketlist(admin_user, "Trips"), factories.bucketlist(other_owner, "Else")
    kyoto, lisbon = factories.item(bucketlist, "Kyoto"), factories.item(elsewhere, "Lisbon")
    children = query.fetch_page(ActivityFilter(parent=("bucketlist", bucketlist.id))).events
    assert [(e.model, e.id) for e in children] == [("item", kyoto.id)]  # its items only, not another list's
    owned = query.fetch_page(ActivityFilter(parent=("user", other_owner.id))).events
    assert [(e.model, e.id) for e in owned] == [("bucketlist", elsewhere.id)]  # what they own, not what they touched
    page = html.unescape(admin_client.get(f"/admin/bucketlists/details/?id={bucketlist.id}").get_data(as_text=True))
    below = page.split('id="children-history"')[1]
    assert "Kyoto" in below and "Lisbon" not in below
    assert lisbon.id != kyoto.id


def test_the_app_is_named_on_the_login_page_and_the_feed_offers_its_actions_above_the_table(app, client,
                                                                                          admin_client):
    app.config["APP_NAME"] = "Travel Admin"
    login = client.get("/login").get_data(as_text=True)
    assert "<title>Log in - Travel Admin</title>" in login and "Travel Admin: log in" in login
    feed = admin_client.get("/admin/activity/").get_data(as_text=True)
    actions, table = feed.index('class="d-flex mb-2 feed-actions"'), feed.index("feed-table")
    assert actions < table and feed.count("Download CSV") == 2  # above the table, and with the pager below
