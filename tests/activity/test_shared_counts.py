"""The dashboard's shared counts (flask_activity.activity.shared_counts): the scheduler counts quarter hours into a
table, every process sums its local days from it, and any day it cannot answer exactly is counted live.

Every test that takes ``app`` runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from admin_app.extensions import db
from flask_activity import activity
from flask_activity.activity import EventCount, EventCountsState, daily_counts, day_windows, refresh_counts
from flask_activity.activity.daily import DayCountCache
from flask_activity.types import UTC
from tests.activity.test_daily import (
    BERLIN,
    DAY,
    HOUR,
    LONG_AGO,
    UTC_ZONE,
    _bucketlist,
    _edge_moments,
    _history,
    _items,
)

NOW = datetime(2026, 11, 5, 12, 7, 30, tzinfo=UTC)  # off a quarter hour: the table ends at 12:00
# A reader in each kind of zone: whole hours with and without daylight saving, half and quarter hours off UTC.
ZONES = [UTC_ZONE, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Asia/Kathmandu"),
         ZoneInfo("Pacific/Chatham"), ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")]


def _past(zone: ZoneInfo, now: datetime = NOW, days: int = 30) -> list[tuple[datetime, datetime]]:
    return [(s, u) for _, s, u in day_windows(days, zone, now)[:-1]]


def test_every_zones_past_days_from_the_table_equal_the_live_counts(app, make_user):
    """Rows of every kind on and around each local midnight (one microsecond either side) and in a daylight-saving
    day: summed from quarter hours, each day of every zone, model and action is exactly what count_windows gives."""
    owner = make_user("owner@example.com")
    _history(owner.id, _edge_moments(BERLIN, NOW, date(2026, 10, 25)))
    done = refresh_counts(NOW)
    assert done is not None and done.until == datetime(2026, 11, 5, 12, tzinfo=UTC)
    assert done.since == done.until - activity.STORED_DAYS * DAY and done.rows > 0 and done.events > 0
    for zone in ZONES:
        for models in ((), ("item",), ("bucketlist", "user")):
            windows = _past(zone)
            stored = activity.stored_windows(windows, models, NOW, max_age=60)
            assert stored is not None, zone
            assert stored == (NOW, activity.count_windows(windows, models)), (zone, models)
    live = activity.count_windows(_past(BERLIN))
    assert sum(c[("item", "updated")] for c in live) > 0 and sum(c[("item", "deleted")] for c in live) > 0


def test_the_table_holds_only_non_zero_buckets_and_a_refresh_replaces_them(app, make_user):
    owner = make_user("owner@example.com")
    bl = _bucketlist(owner.id, LONG_AGO)
    _items(bl, [(NOW - 2 * DAY, None, None), (NOW - 2 * DAY + 10 * HOUR, None, None)])
    refresh_counts(NOW)
    rows = db.session.execute(select(EventCount.model, EventCount.action, EventCount.n)
                              .where(EventCount.model == "item")).all()
    assert sorted(rows) == [("item", "created", 1), ("item", "created", 1)]
    assert db.session.scalar(select(func.min(EventCount.n))) > 0

    _items(bl, [(NOW - 3 * DAY, None, None)])
    later = NOW + timedelta(minutes=20)
    refresh_counts(later)
    assert db.session.scalar(select(func.count()).select_from(EventCount).where(EventCount.model == "item")) == 3
    [held] = db.session.execute(select(EventCountsState)).scalars().all()
    assert held.counted_at == later and held.until == int(datetime(2026, 11, 5, 12, 15, tzinfo=UTC).timestamp())


def test_a_refresh_younger_than_if_older_than_is_not_done_again(app):
    assert refresh_counts(NOW) is not None
    assert refresh_counts(NOW + timedelta(seconds=59), if_older_than=60) is None
    assert refresh_counts(NOW + timedelta(seconds=60), if_older_than=60) is not None
    with pytest.raises(ValueError, match="aware"):
        refresh_counts(NOW.replace(tzinfo=None))


@pytest.mark.parametrize("case", ["no refresh", "too old", "from the future", "before the table",
                                  "after the table", "off a quarter hour", "not back to back", "max age 0"])
def test_the_table_does_not_answer_what_it_cannot_answer_exactly(app, case):
    if case != "no refresh":
        refresh_counts(NOW)
    windows, now, max_age = _past(UTC_ZONE), NOW + timedelta(minutes=1), 300.0
    if case == "too old":
        now = NOW + timedelta(seconds=300)
    elif case == "from the future":
        now = NOW - timedelta(seconds=1)
    elif case == "before the table":
        windows = _past(UTC_ZONE, days=40)
    elif case == "after the table":  # a day ending after the last whole quarter hour counted
        windows = [(NOW - DAY, NOW + timedelta(minutes=53))]
    elif case == "off a quarter hour":  # a zone's historic offset (Paris in 1900: UTC+0:09:21)
        windows = _past(ZoneInfo("Europe/Paris"), datetime(1900, 6, 1, tzinfo=UTC))
    elif case == "not back to back":
        windows = [windows[0], windows[2]]
    elif case == "max age 0":
        max_age = 0
    assert activity.stored_windows(windows, (), now, max_age) is None


def test_the_chart_reads_past_days_from_the_table_and_counts_today_live(app, make_user):
    owner = make_user("owner@example.com")
    bl = _bucketlist(owner.id, LONG_AGO)
    _items(bl, [(NOW - 2 * DAY, None, None)])
    refresh_counts(NOW)
    _items(bl, [(NOW - 2 * DAY, None, None), (NOW - HOUR, None, None)])  # after the refresh
    now = NOW + timedelta(seconds=100)
    cache = DayCountCache()

    shared = daily_counts(30, UTC_ZONE, now, ["item"], cache=cache, ttl=300, shared=True)
    assert shared.cached and shared.counted_at == NOW
    assert shared.days[-3].counts["created"] == 1, "a past day is the table's count"
    assert shared.days[-1].counts["created"] == 1, "today is counted live"
    assert cache.peek((str(UTC_ZONE), ("item",), 30, now.date()))[0] == NOW  # kept until the table is ttl old

    live = daily_counts(30, UTC_ZONE, now, ["item"], ttl=300)
    assert not live.cached and live.days[-3].counts["created"] == 2
    old = daily_counts(30, UTC_ZONE, NOW + timedelta(seconds=300), ["item"], ttl=300, shared=True)
    assert not old.cached and old.days[-3].counts["created"] == 2, "a table ttl old is counted live"


def test_today_is_the_tables_quarter_hours_and_a_live_count_of_the_minutes_since(app, make_user):
    owner = make_user("owner@example.com")
    bl = _bucketlist(owner.id, LONG_AGO)
    at = NOW.replace(minute=0, second=0)  # 12:00, where the table made at NOW (12:07:30) ends
    _items(bl, [(at - 4 * HOUR, None, None), (at + timedelta(minutes=3), None, None)])
    refresh_counts(NOW)
    _items(bl, [(at - HOUR, None, None), (at + timedelta(minutes=5), None, None)])  # after the refresh
    now = NOW + timedelta(seconds=100)

    chart = daily_counts(30, UTC_ZONE, now, ["item"], cache=DayCountCache(), ttl=300, today_ttl=5, shared=True)
    assert chart.live_since == at
    assert chart.days[-1].counts["created"] == 3, "08:00 from the table, 12:03 and 12:05 counted live"
    exact = daily_counts(30, UTC_ZONE, now, ["item"], cache=DayCountCache(), ttl=300, today_ttl=0, shared=True)
    assert exact.live_since is None and exact.days[-1].counts["created"] == 4, "an exact count is all live"


def test_a_stale_table_is_served_while_one_job_refreshes_it(app, make_user):
    """No scheduler (or one that fell behind): the table as it is serves the chart, with its counted_at, and one
    job per process refreshes it for every process; no request counts the past days itself."""
    owner = make_user("owner@example.com")
    bl = _bucketlist(owner.id, LONG_AGO)
    _items(bl, [(NOW - 2 * DAY, None, None)])
    refresh_counts(NOW)
    _items(bl, [(NOW - 2 * DAY, None, None)])
    later, cache, jobs = NOW + timedelta(seconds=400), DayCountCache(), []

    stale = daily_counts(30, UTC_ZONE, later, ["item"], cache=cache, ttl=300, shared=True, recount=jobs.append)
    assert stale.cached and stale.counted_at == NOW and stale.days[-3].counts["created"] == 1
    daily_counts(30, UTC_ZONE, later, ["bucketlist"], cache=cache, ttl=300, shared=True, recount=jobs.append)
    assert len(jobs) == 1, "one refresh of the table serves every chart"

    jobs[0]()
    fresh = daily_counts(30, UTC_ZONE, later, ["item"], cache=cache, ttl=300, shared=True, recount=jobs.append)
    assert fresh.counted_at == later and fresh.days[-3].counts["created"] == 2 and len(jobs) == 1
    assert db.session.scalar(select(EventCountsState.counted_at)) == later


def test_a_table_ending_before_midnight_answers_up_to_its_end_and_is_refreshed(app, make_user):
    """A table made at 23:07 yesterday (no refresh since, or the first minutes after midnight): the past days are the
    table's quarter hours plus a live count from its end (23:00), never all 30 days counted again, and one job
    refreshes it."""
    owner = make_user("owner@example.com")
    bl = _bucketlist(owner.id, LONG_AGO)
    made = NOW - timedelta(hours=13)  # 2026-11-04 23:07:30; the table ends at 23:00
    _items(bl, [(made - 13 * HOUR, None, None), (made + timedelta(minutes=20), None, None)])
    refresh_counts(made)
    _items(bl, [(made - 13 * HOUR, None, None)])  # after the refresh, in the table's range: not seen until the next
    cache, jobs = DayCountCache(), []

    chart = daily_counts(30, UTC_ZONE, NOW, ["item"], cache=cache, ttl=300, shared=True, recount=jobs.append)
    assert chart.cached and chart.counted_at == made and len(jobs) == 1
    assert chart.days[-2].day == date(2026, 11, 4) and chart.days[-2].counts["created"] == 2  # 10:07 + 23:27 live
    live = daily_counts(30, UTC_ZONE, NOW, ["item"], ttl=300, shared=True)  # no recount: an old table is not read
    assert not live.cached and live.days[-2].counts["created"] == 3


def test_two_refreshes_at_once_take_turns(app, make_user):
    """Two scheduler processes refreshing together: no duplicate key, and the second finds the work done."""
    owner = make_user("owner@example.com")
    _items(_bucketlist(owner.id, LONG_AGO), [(NOW - k * HOUR, None, None) for k in range(1, 500)])
    results: list[object] = []
    errors: list[BaseException] = []
    flask_app = app

    def refresh() -> None:
        with flask_app.app_context():
            try:
                results.append(refresh_counts(NOW, if_older_than=60))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and sorted(r is None for r in results) == [False, True]


def test_the_dashboard_of_a_fresh_process_reads_the_table(app, admin_client, admin_user, make_user):
    bl = _bucketlist(admin_user.id, LONG_AGO)
    before = datetime.now(UTC) - 2 * DAY  # a past day in any zone at any time of day, inside the table
    _items(bl, [(before, None, None)])
    assert refresh_counts(datetime.now(UTC)) is not None
    _items(bl, [(before, None, None)] * 2)  # after the refresh: not in the chart's past days
    activity.app_day_cache().clear()
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "Today since <time" in page and "past days and today before that may be up to" in page
    [entry] = [v for k, v in activity.app_day_cache()._entries.items() if k[2] == 30]
    assert sum(c["created"] for c in entry[1]) == 1

    app.config["DASHBOARD_COUNTS_REFRESH"] = 0  # no shared table: the process counts for itself
    activity.app_day_cache().clear()
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "Today is counted at most" in page and "Today since" not in page
    [entry] = [v for k, v in activity.app_day_cache()._entries.items() if k[2] == 30]
    assert sum(c["created"] for c in entry[1]) == 3


def test_the_dashboard_refreshes_a_stale_table_in_a_thread(app, admin_client, admin_user):
    assert refresh_counts(datetime.now(UTC) - timedelta(seconds=400)) is not None  # a table 400 s old
    activity.app_day_cache().clear()
    assert admin_client.get("/admin/").status_code == 200
    for thread in threading.enumerate():
        if thread.name == "chart-recount":
            thread.join(timeout=60)
    counted = db.session.scalar(select(EventCountsState.counted_at))
    assert (datetime.now(UTC) - counted).total_seconds() < 60, "refreshed by the dashboard's thread"


def test_the_scheduler_refreshes_when_due_and_says_when_next(app):
    app.config["DASHBOARD_COUNTS_REFRESH"] = 120
    assert activity.refresh_due(NOW) == NOW + timedelta(seconds=120)
    assert activity.refresh_due(NOW + timedelta(seconds=30)) == NOW + timedelta(seconds=120)  # not again yet
    assert activity.refresh_due(NOW + timedelta(seconds=125)) == NOW + timedelta(seconds=245)
    app.config["DASHBOARD_COUNTS_REFRESH"] = 0
    assert activity.refresh_due(NOW + timedelta(seconds=500)) is None


def test_cli_counts_refreshes_and_refuses_a_bad_number_of_days(app, runner):
    result = runner.invoke(args=["activity", "counts", "--days", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("counted 0 events into 0 quarter hours from ")
    [held] = db.session.execute(select(EventCountsState)).scalars().all()
    assert held.until - held.since == 3 * 86400
    bad = runner.invoke(args=["activity", "counts", "--days", "0"])
    assert bad.exit_code == 2 and "--days" in bad.output


def test_schedule_once_refreshes_the_shared_counts(app, runner):
    result = runner.invoke(args=["schedule", "--once"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(EventCountsState)) == 1
