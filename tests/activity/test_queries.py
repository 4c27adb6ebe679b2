"""The recent-activity query: events derived from audit columns, filters, keyset paging."""
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from admin_app.extensions import db
from flask_activity import activity
from flask_activity.activity import ActivityFilter, BadActivityQuery, fetch_page, iter_events
from flask_activity.audit import acting_as
from tests import factories

UTC = UTC


def events_for(model: str, pk: int) -> list[tuple[str, str | None]]:
    page = fetch_page(ActivityFilter(models=(model,)), limit=500)
    return [(e.action, e.actor_email) for e in page.events if e.id == pk]


def test_created_item_shows_as_created_by_its_creator(app, admin_user):
    bl = factories.bucketlist(admin_user, actor=admin_user)
    it = factories.item(bl, "Climb Kilimanjaro", actor=admin_user)
    assert events_for("item", it.id) == [("created", "admin@example.com")]
    event = fetch_page(ActivityFilter(models=("item",))).events[0]
    assert (event.label, event.at) == ("Climb Kilimanjaro", it.created_at)


def test_updated_item_shows_created_and_updated_with_each_actor(app, admin_user, viewer_user):
    bl = factories.bucketlist(admin_user, actor=admin_user)
    it = factories.item(bl, actor=admin_user)
    with acting_as(viewer_user.id):
        it.done = True
        db.session.commit()
    assert events_for("item", it.id) == [("updated", "viewer@example.com"), ("created", "admin@example.com")]


def test_write_without_actor_is_a_system_event(app, admin_user):
    bl = factories.bucketlist(admin_user)
    it = factories.item(bl)
    assert events_for("item", it.id) == [("created", None)]
    assert fetch_page(ActivityFilter(models=("item",))).events[0].to_json()["actor"] is None


def test_deleted_item_shows_as_deleted_not_updated(app, admin_user, viewer_user):
    bl = factories.bucketlist(admin_user)
    it = factories.item(bl, actor=admin_user)
    factories.soft_delete(it, actor=viewer_user)
    assert it.updated_at == it.deleted_at
    assert events_for("item", it.id) == [("deleted", "viewer@example.com"), ("created", "admin@example.com")]


def test_restored_item_shows_as_updated_by_the_restorer(app, admin_user, viewer_user):
    bl = factories.bucketlist(admin_user)
    it = factories.item(bl, actor=admin_user)
    factories.soft_delete(it, actor=viewer_user)
    with acting_as(admin_user.id):
        it.restore()
        db.session.commit()
    assert it.deleted_at is None
    assert events_for("item", it.id) == [("updated", "admin@example.com"), ("created", "admin@example.com")]


def test_update_after_deletion_shows_both_events(app, admin_user):
    bl = factories.bucketlist(admin_user)
    it = factories.item(bl)
    it.soft_delete()
    db.session.commit()
    it.title = "renamed while deleted"
    db.session.commit()
    assert [a for a, _ in events_for("item", it.id)] == ["updated", "deleted", "created"]


def test_every_audited_model_is_in_the_feed(app, admin_user):
    bl = factories.bucketlist(admin_user)
    factories.item(bl)
    models = {e.model for e in fetch_page(ActivityFilter()).events}
    assert models == {"user", "bucketlist", "item"} == set(activity.model_registry())


def test_feed_is_newest_first(app, admin_user):
    bl = factories.bucketlist(admin_user)
    now = datetime.now(UTC)
    factories.bulk_items(bl, 30, now - timedelta(hours=1), step=timedelta(minutes=1))
    times = [e.at for e in fetch_page(ActivityFilter(), limit=100).events]
    assert times == sorted(times, reverse=True)


def test_ten_thousand_equal_timestamps_page_without_duplicates_or_misses(app, admin_user):
    bl = factories.bucketlist(admin_user)
    same = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    factories.bulk_items(bl, 10_000, same)
    flt = ActivityFilter(models=("item",))
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = fetch_page(flt, 50, cursor)
        assert len(page.events) <= 50
        seen.extend(e.id for e in page.events)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 200
    assert len(seen) == len(set(seen)) == 10_000
    assert seen == sorted(seen, reverse=True)  # ties broken by id, newest (highest) first


def test_equal_timestamps_across_models_and_actions_keep_a_total_order(app, admin_user):
    same = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    bl = factories.bucketlist(admin_user)
    bl.created_at = bl.updated_at = same
    factories.bulk_items(bl, 7, same)
    db.session.commit()
    # soft-delete some at the same instant they were created: created and deleted tie on time
    from admin_app.models import Item

    for it in db.session.scalars(db.select(Item).limit(3)):
        it.deleted_at = it.updated_at = same
    db.session.commit()
    flt = ActivityFilter(since=same, until=same + timedelta(seconds=1))
    everything = fetch_page(flt, 500).events
    for size in (1, 2, 3, 5):
        collected, cursor = [], None
        while True:
            page = fetch_page(flt, size, cursor)
            collected.extend(page.events)
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert collected == everything, size
    assert len(everything) == 1 + 7 + 3


def test_iter_events_walks_all_pages_in_chunks(app, admin_user):
    bl = factories.bucketlist(admin_user)
    factories.bulk_items(bl, 120, datetime(2026, 5, 1, tzinfo=UTC), step=timedelta(seconds=1))
    got = list(iter_events(ActivityFilter(models=("item",)), chunk_size=7))
    assert len(got) == 120 and len({e.id for e in got}) == 120


@pytest.fixture
def history(app, admin_user, viewer_user):
    """created / updated / deleted events at known times by known actors."""
    t0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
    viewer_id = viewer_user.id  # read now: a lazy load later would autoflush half the changes
    bl = factories.bucketlist(admin_user, "Trips", actor=admin_user)
    bl.created_at = bl.updated_at = t0
    a = factories.item(bl, "a", actor=admin_user)
    a.created_at, a.updated_at = t0 + timedelta(days=1), t0 + timedelta(days=1)
    b = factories.item(bl, "b", actor=admin_user)
    b.created_at, b.updated_at, b.updated_by_id = t0 + timedelta(days=2), t0 + timedelta(days=5), viewer_id
    c = factories.item(bl, "c")
    c.created_at = t0 + timedelta(days=3)
    c.updated_at = c.deleted_at = t0 + timedelta(days=6)
    c.updated_by_id = viewer_id
    db.session.commit()
    return dict(t0=t0, bl=bl, a=a, b=b, c=c, admin=admin_user, viewer=viewer_user)


def keys(flt: ActivityFilter) -> list[tuple[str, str, str | None]]:
    return [(e.model, e.action, e.label) for e in fetch_page(flt, 500).events if e.model != "user"]


def test_filter_by_time_window_includes_since_and_excludes_until(history):
    t0 = history["t0"]
    flt = ActivityFilter(since=t0 + timedelta(days=2), until=t0 + timedelta(days=6))
    assert keys(flt) == [("item", "updated", "b"), ("item", "created", "c"), ("item", "created", "b")]


def test_filter_by_model(history):
    assert keys(ActivityFilter(models=("bucketlist",))) == [("bucketlist", "created", "Trips")]


def test_filter_by_several_actions(history):
    assert keys(ActivityFilter(models=("item",), actions=("updated", "deleted"))) == [
        ("item", "deleted", "c"), ("item", "updated", "b")]


def test_filter_by_actor(history):
    assert keys(ActivityFilter(actor_id=history["viewer"].id)) == [("item", "deleted", "c"), ("item", "updated", "b")]


def test_filter_by_system_actor(history):
    assert keys(ActivityFilter(system_actor=True)) == [("item", "created", "c")]


def test_parse_filter_reads_dates_in_the_display_zone(history):
    flt = activity.parse_filter({"since": "2026-01-12", "until": "2026-01-12 02:00"}, ZoneInfo("Europe/Paris"))
    assert flt.since == datetime(2026, 1, 11, 23, 0, tzinfo=UTC)
    assert flt.until == datetime(2026, 1, 12, 1, 0, tzinfo=UTC)


def test_parse_filter_accepts_offsets_and_actor_email(history):
    flt = activity.parse_filter({"since": "2026-01-12T10:00:00+02:00", "actor": "VIEWER@example.com",
                                 "model": "item,bucketlist", "action": ["created"]}, ZoneInfo("UTC"))
    assert flt.since == datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
    assert flt.actor_id == history["viewer"].id
    assert flt.models == ("item", "bucketlist") and flt.actions == ("created",)


@pytest.mark.parametrize("args, message", [
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-01"}, "until"),
    ({"since": "2026-02-01", "until": "2026-01-01"}, "earlier"),
    ({"model": "invoice"}, "unknown model"),
    ({"action": "exploded"}, "unknown action"),
    ({"actor": "ghost@example.com"}, "no user"),
])
def test_bad_filters_raise_a_message_saying_what_to_fix(app, args, message):
    with pytest.raises(BadActivityQuery, match=message):
        activity.parse_filter(args, ZoneInfo("UTC"))


@pytest.mark.parametrize("value", ["0", "501", "-1", "ten", "1.5"])
def test_limit_out_of_range_is_refused(value):
    with pytest.raises(BadActivityQuery, match="limit"):
        activity.parse_limit(value)


def test_cursor_round_trips_and_forged_cursor_is_refused(app):
    c = activity.Cursor(datetime(2026, 1, 1, tzinfo=UTC), "item", 42, "updated")
    token = activity.encode_cursor(c)
    assert activity.decode_cursor(token) == c
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (forged, "garbage", "eyJ4IjoxfQ", token + "x"):
        with pytest.raises(BadActivityQuery, match="cursor"):
            activity.decode_cursor(bad)


def test_count_events_counts_each_model_and_action(history):
    counts = activity.count_events(ActivityFilter(models=("item",)))
    assert counts == {("item", "created"): 3, ("item", "updated"): 1, ("item", "deleted"): 1}


def test_capped_counts_stop_after_the_cap_and_agree_below_it(history):
    exact = activity.count_events(ActivityFilter(models=("item",)))
    assert activity.count_events(ActivityFilter(models=("item",)), cap=10) == exact
    capped = activity.count_events(ActivityFilter(models=("item",)), cap=2)
    assert capped == {("item", "created"): 3, ("item", "updated"): 1, ("item", "deleted"): 1}  # 3 = "more than 2"
    assert activity.count_events(ActivityFilter(models=("item",), since=datetime(2026, 1, 13, tzinfo=UTC)),
                                 cap=0) == {("item", "created"): 1, ("item", "updated"): 1, ("item", "deleted"): 1}


def test_dashboard_shows_capped_counts_with_a_plus_and_counts_exactly_on_request(app, admin_client):
    from admin_app.models import User

    app.config["DASHBOARD_COUNT_CAP"] = 2
    owner = db.session.scalars(select(User)).first()
    assert owner is not None
    bl = factories.bucketlist(owner)
    factories.bulk_items(bl, 5, datetime.now(UTC))
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert ">2+</a>" in page and "count exactly" in page
    exact = admin_client.get("/admin/?exact=1").get_data(as_text=True)
    assert ">5</a>" in exact and "count exactly" not in exact


def test_dashboard_summary_is_the_latest_page_the_counts_and_the_chart_of_the_query_layer(history):
    """What the dashboard shows, in one value: each part equals the query it stands for."""
    zone = ZoneInfo("Europe/Paris")
    now = datetime(2026, 1, 16, 12, 0, tzinfo=UTC)
    summary = activity.dashboard_summary(zone, now, chart_model="item", chart_days=10, latest=3)
    assert summary.latest == fetch_page(ActivityFilter(), limit=3).events
    today = datetime(2026, 1, 15, 23, 0, tzinfo=UTC)  # midnight in Paris
    assert (summary.today_since, summary.week_since) == (today, now - timedelta(days=7))
    assert summary.counts_today == activity.count_events(ActivityFilter(since=today))
    assert summary.counts_week == activity.count_events(ActivityFilter(since=now - timedelta(days=7)))
    assert summary.counts_today[("item", "deleted")] == 1 and summary.counts_today[("item", "updated")] == 0
    assert summary.counts_week[("item", "created")] == 3
    assert summary.daily == activity.daily_counts(10, zone, now, ["item"])
    assert summary.daily.totals() == {"created": 3, "updated": 1, "deleted": 1}
    assert summary.models == tuple(activity.model_registry()) and summary.cap is None and not summary.capped


def test_dashboard_summary_caps_counts_and_says_so(history):
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    summary = activity.dashboard_summary(ZoneInfo("UTC"), now, cap=1)
    assert summary.counts_week[("item", "created")] == 2  # "more than 1" (there are 3)
    assert summary.cap == 1 and summary.capped
    assert not activity.dashboard_summary(ZoneInfo("UTC"), now, cap=10).capped


def test_dashboard_summary_refuses_an_unknown_chart_model_before_any_query(app):
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with pytest.raises(BadActivityQuery, match="unknown model 'nope'"):
            activity.dashboard_summary(ZoneInfo("UTC"), datetime(2026, 1, 15, tzinfo=UTC), chart_model="nope")
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert statements == []
