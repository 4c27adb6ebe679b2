"""People's pages: what one user (or the system) did, counted per model and action for today, 7 and 30 days, with
their first and last activity, read through the feed's own actor filter. Viewers read them too."""
from __future__ import annotations

import html
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from admin_app.extensions import db
from admin_app.models import Bucketlist, Item
from flask_activity import activity
from flask_activity.timefmt import format_local
from flask_activity.types import utcnow

UTC = ZoneInfo("UTC")


@pytest.fixture
def history(app, make_user):
    """Ann: 2 items created now, 1 created 3 days ago and updated now, 1 created 20 days ago, 1 40 days ago;
    the system: 1 item created now. Bob: nothing."""
    ann, bob = make_user("ann@example.com"), make_user("bob@example.com")
    now = utcnow()
    bl = db.session.execute(insert(Bucketlist).returning(Bucketlist.id), [dict(
        title="List", description="", owner_id=ann.id, created_at=now - timedelta(days=50),
        updated_at=now - timedelta(days=50))]).scalar_one()

    def item(title, created, updated=None, by=ann, updater=None):
        db.session.execute(insert(Item), [dict(bucketlist_id=bl, title=title, done=False, created_at=created,
                                               updated_at=updated or created, created_by_id=by.id if by else None,
                                               updated_by_id=(updater or by).id if (updater or by) else None)])

    item("now 1", now - timedelta(minutes=2))
    item("now 2", now - timedelta(minutes=1))
    item("three days", now - timedelta(days=3), now - timedelta(minutes=3))
    item("twenty days", now - timedelta(days=20))
    item("forty days", now - timedelta(days=40))
    item("by the system", now - timedelta(minutes=4), by=None)
    db.session.commit()
    return {"ann": ann, "bob": bob, "now": now, "bucketlist": bl}


def test_person_summary_counts_each_window_from_the_feeds_actor_filter(history):
    ann, now = history["ann"], history["now"]
    summary = activity.person_summary(ann.id, UTC, now)
    counts = {label: (c[("item", "created")], c[("item", "updated")]) for label, _, c in summary.windows}
    # "now" items are in today unless the test runs in the first minutes after midnight UTC
    today_expected = (2, 1) if now - timedelta(minutes=3) >= summary.windows[0][1] else counts["Today"]
    assert counts == {"Today": today_expected, "7 days": (3, 1), "30 days": (4, 1)}
    assert summary.first_at == now - timedelta(days=40)  # her oldest item (the bucketlist was a system write)
    assert summary.last_at == now - timedelta(minutes=1)
    # every number is what the feed filtered by Ann counts
    for _label, since, window in summary.windows:
        assert window == activity.count_events(activity.ActivityFilter(since=since, actor_id=ann.id))
    assert [e.actor_id for e in summary.latest] == [ann.id] * len(summary.latest)


def test_the_systems_summary_is_the_writes_with_no_recorded_user(history):
    summary = activity.person_summary(None, UTC, history["now"])
    assert summary.windows[2][2][("item", "created")] == 1
    # the item, the bucketlist and the two users: every write with no recorded user; none of Ann's
    assert sorted(e.label for e in summary.latest) == ["List", "ann@example.com", "bob@example.com", "by the system"]


def test_a_person_page_shows_counts_first_and_last_activity_and_links_to_the_feed(viewer_client, history):
    ann = history["ann"]
    page = html.unescape(viewer_client.get(f"/admin/activity/by/{ann.id}").get_data(as_text=True))
    assert "ann@example.com" in page
    assert "First activity" in page and format_local(history["now"] - timedelta(days=40), UTC) in page
    row = re.search(r"<td>Items</td><td class=\"action-created\">created</td>(.*?)</tr>", page, re.S).group(1)
    assert re.findall(r">(\d+)</a>", row)[1:] == ["3", "4"]  # 7 and 30 days
    assert f'href="/admin/activity/?actor={ann.id}"' in page  # everything they did, in the feed
    assert f"/admin/activity/?actor={ann.id}&model=item&action=created&since=" in page


def test_the_feed_links_each_actor_to_their_page_and_the_system_to_its_own(admin_client, history):
    page = admin_client.get("/admin/activity/").get_data(as_text=True)
    assert f'<a href="/admin/activity/by/{history["ann"].id}">ann@example.com</a>' in page
    assert '<a href="/admin/activity/by/system">system</a>' in page
    system = html.unescape(admin_client.get("/admin/activity/by/system").get_data(as_text=True))
    assert "Writes with no recorded user" in system and "by the system" in system and "now 1" not in system


def test_someone_with_no_activity_has_a_page_that_says_so(admin_client, history):
    page = admin_client.get(f"/admin/activity/by/{history['bob'].id}").get_data(as_text=True)
    assert "none recorded" in page and "Nothing in the last 30 days." in page and "No events match." in page


@pytest.mark.parametrize("who", ["999999", "not-a-user", "0", "9" * 30, "-1", "1e3"])
def test_an_unknown_person_is_a_404_that_says_where_pages_are(admin_client, history, who):
    response = admin_client.get(f"/admin/activity/by/{who}")
    assert response.status_code == 404
    assert "people&#39;s pages are at" in response.get_data(as_text=True) or "pages are at" in html.unescape(
        response.get_data(as_text=True))
