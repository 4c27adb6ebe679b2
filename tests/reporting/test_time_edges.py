"""Time at the edges: an event on a period boundary or on a daylight-saving day lands in exactly one report
period, and equal timestamps never repeat or vanish across feed pages, the CSV export and the report file.

What is already proven elsewhere is not repeated here: due periods across DST (test_reports_scheduler), ten
thousand equal timestamps through the query layer (test_activity), the exact window of Older links (test_bad_input).
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from admin_app.extensions import db
from admin_app.models import Bucketlist, Item
from flask_activity.reporting import runner
from flask_activity.reporting.models import ReportRun
from flask_activity.reporting.periods import label, named_period, window
from flask_activity.reporting.registry import load_reports
from flask_activity.reporting.scheduler import fire_times, tick
from flask_activity.types import UTC

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
HOUR, US = timedelta(hours=1), timedelta(microseconds=1)
CHANGE_DAYS = [(BERLIN, "2026-03-29", 23), (BERLIN, "2026-10-25", 25), (NEW_YORK, "2026-03-08", 23),
               (NEW_YORK, "2026-11-01", 25)]
CHANGE_IDS = ["berlin-spring", "berlin-autumn", "new-york-spring", "new-york-autumn"]


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"REPORT_CHUNK_SIZE": 7}  # several chunks, so page edges fall between equal timestamps too


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8"))))


def add_items(owner_id: int, times: list[datetime]) -> dict[int, datetime]:
    """One item created at each instant (one list, created long before); returns id -> created_at."""
    bl_id = db.session.execute(insert(Bucketlist).returning(Bucketlist.id), [dict(
        title="Edges", description="", owner_id=owner_id, created_at=datetime(2020, 1, 1, tzinfo=UTC),
        updated_at=datetime(2020, 1, 1, tzinfo=UTC))]).scalar_one()
    db.session.execute(insert(Item), [dict(bucketlist_id=bl_id, title=f"at {t.isoformat()}", done=False,
                                           created_at=t, updated_at=t) for t in times])
    db.session.commit()
    return {i.id: i.created_at for i in db.session.scalars(db.select(Item).where(Item.bucketlist_id == bl_id))}


# --- named periods: pure --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone, change, hours", CHANGE_DAYS, ids=CHANGE_IDS)
def test_named_days_tile_without_gap_or_overlap_across_a_dst_change(zone, change, hours):
    middle = date.fromisoformat(change)
    days = [middle + timedelta(days=k) for k in range(-3, 4)]
    todays = []
    for day in days:
        moments = [datetime.combine(day, t, tzinfo=zone) for t in (time(0), time(12), time(23, 59, 59, 999_999))]
        seen = {named_period("today", zone, m) for m in moments}
        assert len(seen) == 1, f"{day}: every moment of a day names the same day"
        today = seen.pop()
        assert today[0] == datetime.combine(day, time(0), tzinfo=zone)
        assert named_period("yesterday", zone, datetime.combine(day + timedelta(days=1), time(0, 30), tzinfo=zone)) \
            == today
        assert window(day.isoformat(), (day + timedelta(days=1)).isoformat(), None, "today", zone,
                      datetime(2030, 1, 1, tzinfo=UTC)) == today  # typed dates are read in the report's zone
        todays.append(today)
    for before, after in itertools.pairwise(todays):
        assert before[1] == after[0]
    assert [(end - start) / HOUR for start, end in todays] == [24] * 3 + [hours] + [24] * 3
    week = named_period("last-7-days", zone, datetime.combine(days[-1] + timedelta(days=1), time(8), tzinfo=zone))
    assert week == (todays[0][0], todays[-1][1]) and (week[1] - week[0]) / HOUR == 6 * 24 + hours


def test_labels_name_the_offset_only_for_wall_times_the_autumn_change_repeats():
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 summer time
    assert label(first, BERLIN) == "2026-10-25T0230+0200"
    assert label(first + HOUR, BERLIN) == "2026-10-25T0230+0100"  # the same wall time, an hour later
    assert label(first + 2 * HOUR, BERLIN) == "2026-10-25T0330"
    assert label(datetime(2026, 10, 24, 22, 0, tzinfo=UTC), BERLIN) == "2026-10-25"
    assert label(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), BERLIN) == "2026-03-29T0300"  # just after the gap
    assert label(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), NEW_YORK) == "2026-11-01T0130-0400"
    assert label(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), NEW_YORK) == "2026-11-01T0130-0500"


# --- scheduled report periods: every event in exactly one file ---------------------------------------------------

SCHEDULES = {
    "berlin-midnight-spring": ("Europe/Berlin", "0 0 * * *", "2026-03-26T00:00", "2026-04-01T00:00"),
    "berlin-0230-autumn": ("Europe/Berlin", "30 2 * * *", "2026-10-22T02:30", "2026-10-28T02:30"),
    "new-york-0230-spring": ("America/New_York", "30 2 * * *", "2026-03-05T02:30", "2026-03-11T02:30"),
    "new-york-0130-autumn": ("America/New_York", "30 1 * * *", "2026-10-29T01:30", "2026-11-04T01:30"),
    "berlin-half-hourly-autumn": ("Europe/Berlin", "*/30 * * * *", "2026-10-25T01:00", "2026-10-25T04:00"),
}


@pytest.mark.parametrize("case", list(SCHEDULES))
def test_each_event_lands_in_exactly_one_scheduled_report_file(app, admin_user, reports_dir, case):
    tz, schedule, first, last = SCHEDULES[case]
    defn = dataclasses.replace(load_reports()["activity"], name="edges", schedule=schedule, timezone=tz)
    zone = ZoneInfo(tz)
    start = datetime.fromisoformat(first).replace(tzinfo=zone).astimezone(UTC)
    end = datetime.fromisoformat(last).replace(tzinfo=zone).astimezone(UTC)
    fires = [start, *fire_times(defn, start, end)]
    assert fires[-1] == end
    # on every edge (and a microsecond either side), and every 15 minutes in between, both folds included
    quarter = [start - HOUR + k * timedelta(minutes=15) for k in range(int((end - start) / HOUR * 4) + 8)]
    moments = sorted({*quarter, *(f + d for f in fires for d in (-US, timedelta(0), US))})
    created = add_items(admin_user.id, moments)
    db.session.add(ReportRun(report="edges", params={}, period_start=start - timedelta(days=1), period_end=start,
                             scheduled_for=start, status="succeeded", rows=0, started_at=start, finished_at=start))
    db.session.commit()

    result = tick([defn], end, catch_up="run")
    runs = sorted(result.ran, key=lambda r: r.period_start)
    assert [r.status for r in runs] == ["succeeded"] * (len(fires) - 1) and not result.failed
    assert [(r.period_start, r.period_end) for r in runs] == list(itertools.pairwise(fires))
    assert len({r.path for r in runs}) == len(runs), "two periods share a file name"
    landed: dict[int, list[tuple[datetime, datetime]]] = {}
    for r in runs:
        path = reports_dir / r.path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == r.sha256, f"{r.path} was overwritten"
        for row in read_csv(path):
            if row["model"] == "item":
                landed.setdefault(int(row["id"]), []).append((r.period_start, r.period_end))
    for item_id, at in created.items():
        owner = [(s, e) for s, e in itertools.pairwise(fires) if s <= at < e]
        assert landed.get(item_id, []) == owner, f"event at {at.astimezone(zone)} ({at})"
    assert sum(len(v) for v in landed.values()) == sum(1 for at in created.values() if start <= at < end)


@pytest.mark.parametrize("zone, change, hours", CHANGE_DAYS, ids=CHANGE_IDS)
def test_daily_activity_counts_each_event_on_its_local_day_across_dst(app, admin_user, reports_dir, zone, change,
                                                                      hours):
    middle = date.fromisoformat(change)
    midnights = [datetime.combine(middle + timedelta(days=k), time(0), tzinfo=zone).astimezone(UTC)
                 for k in (-1, 0, 1, 2)]
    since, until = midnights[0], midnights[-1]
    every_half_hour = [since + k * timedelta(minutes=30) for k in range(int((until - since) / HOUR * 2))]
    edges = [m + d for m in midnights for d in (-US, timedelta(0), US)]
    created = add_items(admin_user.id, sorted({*every_half_hour, *edges}))
    daily = dataclasses.replace(load_reports()["daily-activity"], timezone=zone.key)
    run = runner.run_report(daily, since, until)
    counts = {r["day"]: int(r["events"]) for r in read_csv(reports_dir / run.path)
              if (r["model"], r["action"]) == ("item", "created")}
    expected: dict[str, int] = {}
    for at in created.values():
        if since <= at < until:
            day = at.astimezone(zone).date().isoformat()
            expected[day] = expected.get(day, 0) + 1
    assert counts == expected
    assert counts[change] == hours * 2 + 2  # every half hour of a 23- or 25-hour day, and its two edges


# --- equal timestamps: feed pages, export, report ------------------------------------------------------------------


def test_equal_timestamps_never_repeat_or_vanish_across_feed_pages_the_export_and_the_report(
        app, viewer_client, admin_user, reports_dir):
    at = datetime(2026, 6, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    owner = admin_user.id
    lists = db.session.execute(insert(Bucketlist).returning(Bucketlist.id), [
        dict(title=f"List {k}", description="", owner_id=owner, created_at=at, updated_at=at) for k in range(4)
    ]).scalars().all()
    earlier = at - timedelta(minutes=10)
    rows = ([(at, at, None)] * 12  # created at the instant
            + [(earlier, at, None)] * 6  # updated at the instant
            + [(earlier, at, at)] * 4  # deleted at the instant
            + [(at - US, at - US, None)] * 3 + [(at + US, at + US, None)] * 3)  # a microsecond either side
    db.session.execute(insert(Item), [dict(bucketlist_id=lists[k % 4], title=f"Item {k}", done=False, created_at=c,
                                           updated_at=u, deleted_at=d) for k, (c, u, d) in enumerate(rows)])
    db.session.commit()
    expected = {("bucketlist", i, "created") for i in lists}
    for item in db.session.scalars(db.select(Item)):
        action = "deleted" if item.deleted_at else "updated" if item.updated_at > item.created_at else "created"
        expected.add(("item", item.id, action))
    assert len(expected) == 32

    def iso(moment: datetime) -> str:
        return quote(moment.isoformat(), safe="")

    def feed(limit: int, since: datetime = at - timedelta(seconds=1), until: datetime = at + timedelta(seconds=1)
             ) -> list[tuple[str, int, str, str]]:
        got, cursor = [], None
        while True:
            url = f"/admin/activity/feed.json?since={iso(since)}&until={iso(until)}&limit={limit}"
            body = viewer_client.get(url + (f"&cursor={cursor}" if cursor else "")).get_json()
            got += [(e["model"], e["id"], e["action"], e["at"]) for e in body["events"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return got

    whole = feed(500)
    assert len(whole) == len(set(whole)) == 32 and {e[:3] for e in whole} == expected
    for limit in (1, 4, 7):
        assert feed(limit) == whole, f"pages of {limit}"
    assert sum(e[3] == "2026-06-01T12:00:00.500000+00:00" for e in whole) == 26
    assert {e[3] for e in feed(5, since=at)} == {at.isoformat(), (at + US).isoformat()}  # since: included
    assert {e[3] for e in feed(5, until=at)} == {(at - US).isoformat()}  # until: excluded

    exported = viewer_client.get(f"/admin/activity/export.csv?since={iso(at - timedelta(seconds=1))}"
                                 f"&until={iso(at + timedelta(seconds=1))}").get_data(as_text=True)
    assert [(r["model"], int(r["id"]), r["action"], r["at"]) for r in csv.DictReader(io.StringIO(exported))] == whole
    report = runner.run_report(load_reports()["activity"], at - timedelta(seconds=1), at + timedelta(seconds=1))
    assert [(r["model"], int(r["id"]), r["action"], r["at"]) for r in read_csv(reports_dir / report.path)] == whole
