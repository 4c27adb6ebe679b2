"""The dashboard's "Activity over time" chart: per-day counts that equal the feed (also on daylight-saving days and
for soft-deleted rows), CSP-safe and escaped SVG whose every link opens the feed it counted, the model selector,
and the cache of past days.

Every test that takes ``app`` runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, update

from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, User
from flask_activity import activity
from flask_activity.activity import ACTIONS, DailyCounts, DayCount, DayCountCache, daily_counts, day_windows
from flask_activity.admin.charts import activity_chart, nice_ticks
from flask_activity.types import UTC, utcnow
from tests.bench_runs import run_bench_script

BERLIN, NEW_YORK, UTC_ZONE = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("UTC")
US, HOUR, DAY = timedelta(microseconds=1), timedelta(hours=1), timedelta(days=1)
SVG = "{http://www.w3.org/2000/svg}"
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)

# (zone, a "now" whose 30 days hold a daylight-saving change, the change day, its hours)
DST_CASES = [
    pytest.param(BERLIN, datetime(2026, 11, 5, 12, tzinfo=BERLIN), date(2026, 10, 25), 25, id="berlin-autumn"),
    pytest.param(BERLIN, datetime(2026, 4, 10, 12, tzinfo=BERLIN), date(2026, 3, 29), 23, id="berlin-spring"),
    pytest.param(NEW_YORK, datetime(2026, 11, 20, 9, tzinfo=NEW_YORK), date(2026, 11, 1), 25, id="new-york-autumn"),
]


# --- data -----------------------------------------------------------------------------------------------------------


def _bucketlist(owner_id: int, created: datetime, updated: datetime | None = None,
                deleted: datetime | None = None, title: str = "Chart list") -> int:
    return db.session.execute(insert(Bucketlist).returning(Bucketlist.id), [dict(
        title=title, description="", owner_id=owner_id, created_at=created, updated_at=updated or created,
        deleted_at=deleted)]).scalar_one()


def _items(bl_id: int, rows: list[tuple[datetime, datetime | None, datetime | None]], title: str = "item") -> None:
    """Items as (created_at, updated_at or None = unchanged, deleted_at or None), one executemany."""
    db.session.execute(insert(Item), [dict(bucketlist_id=bl_id, title=f"{title} {i}", done=False, created_at=c,
                                           updated_at=u or c, deleted_at=d) for i, (c, u, d) in enumerate(rows)])
    db.session.commit()


def _edge_moments(zone: ZoneInfo, now: datetime, change: date) -> list[datetime]:
    """Instants on and around every local midnight of the chart's 30 days, and in the change day's odd hour."""
    out = []
    for _, since, until in day_windows(30, zone, now):
        out += [since - US, since, since + US, since + 12 * HOUR, until - US]
    if (change.month, zone) in ((10, BERLIN), (11, NEW_YORK)):  # the repeated hour, both times
        out += [datetime.combine(change, time(1 if zone is NEW_YORK else 2, 30, fold=f), tzinfo=zone) for f in (0, 1)]
    else:  # the hour that does not exist: just before and just after the jump
        out += [datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC), datetime(2026, 3, 29, 1, tzinfo=UTC)]
    return [t.astimezone(UTC) for t in out]


def _history(owner_id: int, moments: list[datetime]) -> list[datetime]:
    """Every kind of row the feed distinguishes, with its event at each moment.

    created only; updated later; soft-deleted (updated_at == deleted_at: one 'deleted', no 'updated'); edited after
    its deletion (updated_at != deleted_at: both); restored (deleted_at cleared: 'updated'); created and deleted in
    the same instant (no 'updated'). Bucketlists get created and updated events too. Returns when items were created.
    """
    bl = _bucketlist(owner_id, LONG_AGO)
    rows: list[tuple[datetime, datetime | None, datetime | None]] = []
    for i, t in enumerate(moments):
        rows.append((t, None, None))                                  # created at t
        rows.append((LONG_AGO, t, None))                              # updated at t
        rows.append((LONG_AGO, t, t))                                 # deleted at t
        if i % 3 == 0:
            rows.append((LONG_AGO, t, moments[(i + 7) % len(moments)]))  # updated at t, deleted at another moment
            rows.append((t, t, t))                                    # created and deleted at t
        if i % 4 == 0:
            _bucketlist(owner_id, t, t + 3 * HOUR)                    # bucketlist created at t, updated 3 h later
    _items(bl, rows)
    return [c for c, _, _ in rows if c != LONG_AGO]


def _feed_count(zone: ZoneInfo, day: date, action: str, model: str | None) -> int:
    """What the feed shows for since=D 00:00, until=D+1 00:00 typed in ``zone``, for one action (and model)."""
    args = {"since": f"{day} 00:00", "until": f"{day + DAY} 00:00", "action": action, "model": model or ""}
    page = activity.fetch_page(activity.parse_filter(args, zone), limit=activity.MAX_LIMIT)
    assert page.next_cursor is None, "test data must fit one page"
    return len(page.events)


# --- the query ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone, now, change, hours", DST_CASES)
def test_daily_counts_equal_the_feed_for_every_day_action_and_model(app, make_user, zone, now, change, hours):
    owner = make_user("owner@example.com")
    moments = _edge_moments(zone, now, change)
    created = _history(owner.id, moments)

    for models in (None, ["item"], ["bucketlist"], ["user"]):
        counts = daily_counts(30, zone, now, models)
        assert [d.day for d in counts.days][-1] == now.astimezone(zone).date()
        for d in counts.days:
            for action in ACTIONS:
                assert d.counts[action] == _feed_count(zone, d.day, action, models[0] if models else None), \
                    (models, d.day.isoformat(), action)

    items = daily_counts(30, zone, now, ["item"])
    [odd] = [d for d in items.days if d.day == change]
    assert odd.until - odd.since == hours * HOUR  # one bucket of 23 or 25 hours
    # An independent oracle for 'created': each moment's local calendar date.
    created_on = [t.astimezone(zone).date() for t in created]
    assert [d.counts["created"] for d in items.days] == [created_on.count(d.day) for d in items.days]
    assert odd.counts["created"] == created_on.count(change) >= 5


def test_deleted_rows_count_once_as_deleted_and_an_edit_after_deletion_also_as_updated(app, make_user):
    owner = make_user("owner@example.com")
    now = datetime(2026, 11, 5, 12, tzinfo=UTC)
    t1, t2 = datetime(2026, 11, 3, 10, tzinfo=UTC), datetime(2026, 11, 4, 10, tzinfo=UTC)
    _items(_bucketlist(owner.id, LONG_AGO), [(LONG_AGO, t1, t1),   # soft-deleted: deleted only
                                             (LONG_AGO, t1, t2),   # edited at t1, deleted at t2
                                             (t2, t2, t2)])        # created and deleted at once
    by_day = {d.day: d.counts for d in daily_counts(30, UTC_ZONE, now, ["item"]).days}
    assert by_day[date(2026, 11, 3)] == {"created": 0, "updated": 1, "deleted": 1}
    assert by_day[date(2026, 11, 4)] == {"created": 1, "updated": 0, "deleted": 2}


@pytest.mark.parametrize("zone, now, change, hours", DST_CASES[:1])
def test_count_windows_equal_count_events_on_the_same_windows(app, make_user, zone, now, change, hours):
    """Every kind of row (updated, soft-deleted so the update was the deletion, edited after deletion, created and
    deleted at once, bucketlists updated later) on day edges: the day-count statements give what count_events
    gives, per model and action, zero counts included, for any models and actions and windows that are not days."""
    owner = make_user("owner@example.com")
    _history(owner.id, _edge_moments(zone, now, change))
    days = [(since, until) for _, since, until in day_windows(30, zone, now)]
    odd = [(days[0][0], days[-1][1]), (days[3][0] + 7 * HOUR, days[3][0] + 13 * HOUR), (LONG_AGO, days[0][0])]
    windows = days + odd
    for models, actions in [((), ()), (("item",), ()), (("bucketlist", "user"), ("updated",)),
                            (("item",), ("created", "deleted")), ((), ("deleted", "updated"))]:
        got = activity.count_windows(windows, models, actions)
        expected = [activity.count_events(activity.ActivityFilter(since, until, models, actions))
                    for since, until in windows]
        assert got == expected, (models, actions)
    assert sum(c[("item", "deleted")] for c in activity.count_windows(days)) > 0
    assert sum(c[("item", "updated")] for c in activity.count_windows(days)) > 0


def test_chart_days_are_count_windows_summed_over_the_models(app, make_user):
    owner = make_user("owner@example.com")
    now = datetime(2026, 11, 5, 12, tzinfo=UTC)
    _history(owner.id, _edge_moments(BERLIN, now, date(2026, 10, 25)))
    for models in (None, ["item", "bucketlist"]):
        chart = daily_counts(30, BERLIN, now, models)
        per_model = activity.count_windows([(d.since, d.until) for d in chart.days], models or ())
        assert [dict(d.counts) for d in chart.days] == [
            {a: sum(n for (_, action), n in c.items() if action == a) for a in ACTIONS} for c in per_model]


def test_count_windows_refuses_an_unknown_model_or_action_and_counts_no_window_for_none(app):
    with pytest.raises(activity.BadActivityQuery, match="unknown model 'nope'"):
        activity.count_windows([(LONG_AGO, LONG_AGO + DAY)], ["nope"])
    with pytest.raises(activity.BadActivityQuery, match="unknown action 'moved'"):
        activity.count_windows([(LONG_AGO, LONG_AGO + DAY)], actions=["moved"])
    assert activity.count_windows([], ["item"]) == []
    assert activity.count_windows([(LONG_AGO, LONG_AGO + DAY)], ["item"], ["created"]) == [{("item", "created"): 0}]


def test_an_unknown_model_or_a_bad_number_of_days_is_refused(app):
    now = utcnow()
    with pytest.raises(activity.BadActivityQuery, match="unknown model 'nope'"):
        daily_counts(30, UTC_ZONE, now, ["nope"])
    with pytest.raises(activity.BadActivityQuery, match="days must be from 1"):
        daily_counts(0, UTC_ZONE, now)
    with pytest.raises(ValueError, match="aware"):
        daily_counts(30, UTC_ZONE, now.replace(tzinfo=None))


def test_a_year_of_days_counts_on_both_databases(app, make_user):
    """The longest range allowed (366 days, one statement each) counts every day."""
    owner = make_user("owner@example.com")
    now = datetime(2026, 11, 5, 12, tzinfo=UTC)
    _items(_bucketlist(owner.id, LONG_AGO), [(now - k * DAY, None, None) for k in range(0, 400, 7)])
    counts = daily_counts(activity.MAX_CHART_DAYS, BERLIN, now, ["item"])
    assert len(counts.days) == 366 and counts.totals()["created"] == len(range(0, 366, 7))


def test_past_days_come_from_the_cache_until_the_ttl_ends_and_today_is_always_live(app, make_user):
    owner = make_user("owner@example.com")
    bl = _bucketlist(owner.id, LONG_AGO)
    db.session.commit()
    now = datetime(2026, 11, 5, 12, tzinfo=UTC)
    yesterday, today = now - DAY, now - HOUR
    cache = DayCountCache()
    first = daily_counts(30, UTC_ZONE, now, ["item"], cache=cache, ttl=300)
    assert not first.cached and first.counted_at == now

    _items(bl, [(yesterday, None, None), (today, None, None)])
    later = now + timedelta(seconds=299)
    warm = daily_counts(30, UTC_ZONE, later, ["item"], cache=cache, ttl=300)
    assert warm.cached and warm.counted_at == now
    assert warm.days[-2].counts["created"] == 0, "a past day is the cached count"
    assert warm.days[-1].counts["created"] == 1, "today is counted live"
    assert daily_counts(30, UTC_ZONE, later, ["bucketlist"], cache=cache, ttl=300).cached is False  # per model

    expired = daily_counts(30, UTC_ZONE, now + timedelta(seconds=300), ["item"], cache=cache, ttl=300)
    assert not expired.cached and expired.days[-2].counts["created"] == 1
    assert not daily_counts(30, UTC_ZONE, now, ["item"], cache=cache, ttl=0).cached  # ttl 0: never cached


def test_an_expired_chart_is_served_while_one_job_counts_it_again(app, make_user):
    """With ``recount``, no request waits for the past days once they were counted: an expired entry is served
    (with its counted_at) and one job, not one per request, counts them again for the next reader."""
    owner = make_user("recount@example.com")
    bl = _bucketlist(owner.id, LONG_AGO)
    db.session.commit()
    now = datetime(2026, 11, 5, 12, tzinfo=UTC)
    cache, jobs = DayCountCache(), []
    daily_counts(30, UTC_ZONE, now, ["item"], cache=cache, ttl=300, recount=jobs.append)
    assert jobs == []  # nothing to serve yet: counted in the request
    _items(bl, [(now - DAY, None, None)])

    expired = now + timedelta(seconds=301)
    stale = daily_counts(30, UTC_ZONE, expired, ["item"], cache=cache, ttl=300, recount=jobs.append)
    assert stale.cached and stale.counted_at == now and stale.days[-2].counts["created"] == 0
    daily_counts(30, UTC_ZONE, expired, ["item"], cache=cache, ttl=300, recount=jobs.append)
    assert len(jobs) == 1, "a recount under way is not started again"

    jobs[0]()
    fresh = daily_counts(30, UTC_ZONE, expired, ["item"], cache=cache, ttl=300, recount=jobs.append)
    assert fresh.cached and fresh.counted_at == expired and fresh.days[-2].counts["created"] == 1
    assert len(jobs) == 1
    without = daily_counts(30, UTC_ZONE, expired + timedelta(seconds=300), ["item"], cache=cache, ttl=300)
    assert not without.cached  # no recount given: an expired entry is counted in the request, as before


def test_the_dashboard_counts_an_expired_chart_again_in_a_thread(app, admin_client, admin_user, monkeypatch):
    import threading
    import time as clock

    from flask_activity.admin import activity_views

    started: list[object] = []
    real = activity_views.in_background
    monkeypatch.setattr(activity_views, "in_background", lambda job: (started.append(job), real(job)))
    app.config["DASHBOARD_CHART_TTL"] = 0.2
    assert admin_client.get("/admin/").status_code == 200 and started == []  # counted in the request, cached
    [(key, (first_counted, _))] = [(k, v) for k, v in activity.app_day_cache()._entries.items() if k[2] == 30]
    clock.sleep(0.3)
    assert admin_client.get("/admin/").status_code == 200  # expired: served as it was, recounted in a thread
    assert len(started) == 1
    for thread in threading.enumerate():
        if thread.name == "chart-recount":
            thread.join(timeout=30)
    entry = activity.app_day_cache().peek(key)
    assert entry is not None and entry[0] > first_counted


# --- the SVG --------------------------------------------------------------------------------------------------------


def _counts(values: list[dict[str, int]], zone: ZoneInfo = UTC_ZONE, models: tuple[str, ...] = ()) -> DailyCounts:
    now = datetime(2026, 11, 5, 12, tzinfo=UTC)
    windows = day_windows(len(values), zone, now)
    days = tuple(DayCount(d, s, u, c) for (d, s, u), c in zip(windows, values, strict=True))
    return DailyCounts(zone, models, days, now)


def _href(day: DayCount, action: str | None) -> str:
    return f"/admin/activity/?since={day.since.isoformat()}&action={action or ''}"


def _all(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(SVG + tag))


def _child(el: ET.Element, tag: str) -> ET.Element:
    found = el.find(SVG + tag)
    assert found is not None, f"no <{tag}> in <{el.tag}>"
    return found


def _title(el: ET.Element) -> str:
    """The text of ``el``'s <title> (the chart and each of its links have one)."""
    return _child(el, "title").text or ""


def _attr(el: ET.Element, name: str) -> str:
    value = el.get(name)
    assert value is not None, f"<{el.tag}> has no {name}"
    return value


def _assert_csp_safe(root: ET.Element) -> None:
    for el in root.iter():
        assert "style" not in el.attrib and not any(a.lower().startswith("on") for a in el.attrib), el.attrib
        assert el.tag not in (SVG + "script", SVG + "style", SVG + "foreignObject")


def test_chart_is_well_formed_csp_safe_responsive_and_labelled():
    values = [{"created": i * 3, "updated": i, "deleted": i % 4} for i in range(30)]
    root = ET.fromstring(str(activity_chart(_counts(values), _href)))
    _assert_csp_safe(root)
    assert root.get("viewBox") == "0 0 640 300" and root.get("width") == "100%" and root.get("height") is None
    assert root.get("aria-labelledby") and _title(root).startswith("Events per day")
    assert "all models" in _title(root)
    assert "Days in UTC" in "".join(t.text or "" for t in _all(root, "text"))

    days = [a for a in _all(root, "a") if a.get("class") == "chart-day"]
    assert len(days) == 30 and all(a.get("tabindex") == "0" and a.get("aria-label") for a in days)
    segments = [a for a in _all(root, "a") if a.get("class") == "chart-segment"]
    assert all(a.get("tabindex") == "-1" and a.get("aria-hidden") == "true" for a in segments)
    titles = {_title(a) for a in segments}
    assert "2026-11-05: 87 created" in titles and "2026-11-05: 29 updated" in titles
    assert days[-1].get("aria-label") == "2026-11-05 (today, so far): 117 events (87 created, 29 updated, 1 deleted)"
    # x labels: today and every 5th day before it, not all 30
    labels = [t.text for t in _all(root, "text") if t.get("class") == "chart-tick" and t.get("text-anchor") == "middle"]
    assert labels == ["Oct 11", "Oct 16", "Oct 21", "Oct 26", "Oct 31", "Nov 5"]
    ticks = [t.text for t in _all(root, "text") if t.get("class") == "chart-tick" and t.get("text-anchor") == "end"]
    assert ticks == ["0", "50", "100", "150"]


def test_segments_use_the_action_colours_of_app_css():
    css = (Path(__file__).resolve().parents[2] / "admin_app" / "static" / "app.css").read_text()
    root = ET.fromstring(str(activity_chart(_counts([{"created": 1, "updated": 1, "deleted": 1}]), _href)))
    for action in ACTIONS:
        rule = re.search(rf"\.action-{action} {{ color: (#[0-9a-f]{{6}}); }}", css)
        assert rule, f"no colour for .action-{action} in app.css"
        colour = rule.group(1)
        [segment] = [a for a in _all(root, "a") if a.get("href", "").endswith(f"action={action}")]
        assert _child(segment, "rect").get("fill") == colour


def test_chart_escapes_hostile_model_names_and_links():
    hostile = '<script>alert(1)</script>"&'
    counts = _counts([{"created": 1, "updated": 0, "deleted": 0}] * 3, models=(hostile,))
    svg = str(activity_chart(counts, lambda day, action: f'/x?a="><script>alert(2)</script>&b={action}'))
    assert "<script" not in svg
    root = ET.fromstring(svg)
    assert hostile in _title(root)  # shown as text, not markup
    assert all("<script>" in _attr(a, "href") for a in _all(root, "a"))  # the href came back intact after parsing


def test_a_daylight_saving_day_is_one_bar_that_says_how_long_it_was():
    values = [{"created": 1, "updated": 0, "deleted": 0}] * 30
    now = datetime(2026, 11, 5, 12, tzinfo=UTC)
    windows = day_windows(30, BERLIN, now)
    counts = DailyCounts(BERLIN, (), tuple(DayCount(d, s, u, c) for (d, s, u), c in
                                           zip(windows, values, strict=True)), now)
    days = [a for a in _all(ET.fromstring(str(activity_chart(counts, _href))), "a") if a.get("class") == "chart-day"]
    assert len(days) == 30
    assert [a.get("aria-label") for a in days if "hours" in _attr(a, "aria-label")] == [
        "2026-10-25 (25 hours): 1 event (1 created, 0 updated, 0 deleted)"]


def test_chart_with_no_events_says_so():
    root = ET.fromstring(str(activity_chart(_counts([dict.fromkeys(ACTIONS, 0)] * 30), _href)))
    assert "No events in these 30 days" in [t.text for t in _all(root, "text")]
    assert all(a.get("class") == "chart-day" for a in _all(root, "a"))
    assert _attr(_all(root, "a")[0], "aria-label").endswith(": no events")


@pytest.mark.parametrize("maximum, ticks", [(0, [0]), (1, [0, 1]), (7, [0, 2, 4, 6, 8]), (99, [0, 50, 100]),
                                            (2455, [0, 1000, 2000, 3000]), (49_000, [0, 20_000, 40_000, 60_000])])
def test_y_axis_ticks_are_round(maximum, ticks):
    assert nice_ticks(maximum) == ticks


# --- the dashboard --------------------------------------------------------------------------------------------------


def _page_svg(body: str) -> ET.Element:
    match = re.search(r"<svg\b.*?</svg>", body, re.S)
    assert match, "no chart on the dashboard"
    return ET.fromstring(match.group(0))


def _number_in(title: str) -> int:
    if title.endswith("no events"):
        return 0
    number = re.search(r": ([\d,]+) ", title)
    assert number, title
    return int(number.group(1).replace(",", ""))


def _feed_rows(client, href: str) -> int:
    r = client.get(href)
    assert r.status_code == 200, href
    body = r.get_data(as_text=True)
    assert "Older" not in body, "test data must fit one feed page"
    return body.count('<td class="label-cell">')


def _recent_history(owner_id: int) -> None:
    """A few events a day over the chart's days (relative to the real clock), deletions and updates included."""
    now = utcnow()
    bl = _bucketlist(owner_id, now - 40 * DAY, now - 2 * DAY)
    rows: list[tuple[datetime, datetime | None, datetime | None]] = [
        (now - k * DAY - HOUR * (k % 3), None, None) for k in (0, 0, 1, 2, 5, 9, 17, 29, 31)]
    rows += [(now - 40 * DAY, now - 3 * DAY, None), (now - 40 * DAY, now - 1 * DAY, now - 1 * DAY),
             (now - 40 * DAY, now - 4 * DAY, now - 2 * DAY)]
    _items(bl, rows, title="recent")


@pytest.mark.parametrize("query", ["", "?chart_model=item"])
def test_every_bar_link_opens_the_feed_with_the_rows_it_counted(app, admin_client, admin_user, query):
    app.config["APP_TIMEZONE"] = "Europe/Berlin"
    _recent_history(admin_user.id)
    body = admin_client.get(f"/admin/{query}").get_data(as_text=True)
    root = _page_svg(body)
    links = _all(root, "a")
    assert len([a for a in links if a.get("class") == "chart-day"]) == 30
    seen = 0
    for a in links:
        expected = _number_in(_title(a))
        assert _feed_rows(admin_client, _attr(a, "href")) == expected, _title(a)
        seen += expected if a.get("class") == "chart-day" else 0
    # the days tile the window: the bars hold every event the feed has from the first midnight to the last
    first, last = (parse_qs(urlsplit(_attr(a, "href")).query) for a in (links[0], links[-1]))
    whole = activity.parse_filter({"since": first["since"][0], "until": last["until"][0],
                                   "model": first.get("model", [""])[0]}, BERLIN)
    assert seen == len(activity.fetch_page(whole, limit=activity.MAX_LIMIT).events) >= 10
    if query:
        assert all("model=item" in _attr(a, "href") for a in links)


def test_dashboard_chart_is_csp_safe_and_the_table_matches_it(app, admin_client, admin_user):
    _recent_history(admin_user.id)
    body = admin_client.get("/admin/").get_data(as_text=True)
    _assert_csp_safe(_page_svg(body))
    section = body[body.index('<section class="activity-chart'):body.index("</section>")]
    assert "style=" not in section and "<script" not in section
    table = section[section.index("<table"):]
    today = utcnow().date().isoformat()  # UTC: the default APP_TIMEZONE
    assert re.search(rf"<th scope=\"row\"><time datetime=\"{today}\">{today}</time> \(today\)</th>", table)
    assert len(re.findall(r'<th scope="row">', table)) == 30
    # The table's totals are the bars' (newest first, where the bars run oldest first).
    bars = [_number_in(_attr(a, "aria-label")) for a in _all(_page_svg(body), "a") if a.get("class") == "chart-day"]
    totals = [int(n.replace(",", "")) for n in re.findall(r'<td><a href="[^"]*">([\d,]+)</a></td>\s*</tr>', table)]
    assert totals[::-1] == bars and len(bars) == 30 and sum(bars) > 0


def test_unknown_chart_model_is_a_400_with_a_message(admin_client):
    r = admin_client.get("/admin/?chart_model=bogus")
    assert r.status_code == 400
    message = "chart_model: unknown model 'bogus'; choose from bucketlist, item, user"
    assert message in html.unescape(r.get_data(as_text=True))
    assert admin_client.get("/admin/?chart_model=%3Cscript%3E").status_code == 400


def test_model_selector_marks_the_current_model_and_keeps_other_arguments(admin_client):
    body = admin_client.get("/admin/?exact=1&chart_model=Item").get_data(as_text=True)
    start = body.index('<nav class="chart-models"')
    nav = body[start:body.index("</nav>", start)]
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav)
    assert [(label, bool(current)) for _, current, label in links] == [
        ("All", False), ("Bucketlists", False), ("Items", True), ("Users", False)]
    assert [href.replace("&amp;", "&") for href, _, _ in links] == [
        f"/admin/?exact=1{m}#activity-chart-section" for m in ("", "&chart_model=bucketlist", "&chart_model=item",
                                                               "&chart_model=user")]
    assert "Events per day over the last 30 days, Items" in body


def test_model_selector_does_not_hand_url_for_options_to_url_for(admin_client):
    r = admin_client.get("/admin/?_external=1&_scheme=javascript&endpoint=x&exact=1")
    assert r.status_code == 200
    nav = r.get_data(as_text=True).split('<nav class="chart-models"')[1].split("</nav>")[0]
    # Only the page's own state (exact=1) is carried into the model links; other arguments are not copied.
    assert "javascript" not in nav and "_external" not in nav and "endpoint" not in nav
    assert 'href="/admin/?exact=1#activity-chart-section"' in nav


def test_viewer_sees_the_chart(viewer_client):
    body = viewer_client.get("/admin/").get_data(as_text=True)
    assert 'id="activity-chart"' in body and "Show as table" in body


def test_dashboard_renders_with_zero_events(app, admin_client, admin_user):
    db.session.execute(update(User).values(created_at=LONG_AGO, updated_at=LONG_AGO))  # no event in 30 days
    db.session.commit()
    r = admin_client.get("/admin/")
    assert r.status_code == 200
    assert "No events in these 30 days" in r.get_data(as_text=True)


def test_hostile_item_titles_leave_the_dashboard_and_its_chart_well_formed(app, admin_client, admin_user):
    now = utcnow()
    _items(_bucketlist(admin_user.id, now - DAY), [(now - HOUR, None, None)], title='<script>alert("x")</script>')
    body = admin_client.get("/admin/").get_data(as_text=True)
    assert '<script>alert("x")' not in body
    _page_svg(body)  # still well-formed


def test_page_says_how_old_past_days_may_be(app, admin_client):
    app.config["DASHBOARD_CHART_TTL"] = 120
    assert "past days may be up to 2 minutes old" in admin_client.get("/admin/").get_data(as_text=True)
    app.config["DASHBOARD_CHART_TTL"] = 0
    assert "may be up to" not in admin_client.get("/admin/").get_data(as_text=True)


# --- the benchmark script -------------------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_bench_chart_script_runs_on_a_tiny_database(tmp_path: Path):
    result = run_bench_script("chart.py", ["--db", "sqlite", "--sizes", "2000", "--repeat", "2"], tmp_path,
                              timeout=120)
    [run] = result["runs"]
    assert run["events_in_window"] > 0
    for key in ("uncached_all", "uncached_item", "cached_all", "expired_served", "page_dashboard_ttl_default",
                "page_dashboard_ttl_0"):
        assert run[key]["median_ms"] > 0
    assert run["expired_recount_ms"] > 0


def test_the_dashboards_live_counts_are_shared_for_live_ttl_seconds_then_counted_again(app, make_user):
    """Many admins on the dashboard share one count per process: today's bar and the today / 7 days counts are
    reused for ``live_ttl`` seconds (DASHBOARD_LIVE_TTL), then counted again; live_ttl=0 (?exact=1) counts now."""
    from tests import factories

    owner = make_user("live@example.com")
    bl = factories.bucketlist(owner, "Live", actor=owner)
    cache, now = DayCountCache(), utcnow()

    def summary(at: datetime, live_ttl: float = 5) -> activity.DashboardSummary:
        return activity.dashboard_summary(UTC, at, cache=cache, ttl=300, cap=1000, live_ttl=live_ttl)

    first = summary(now)
    factories.item(bl, "one more", actor=owner)
    reused = summary(now + timedelta(seconds=2))
    assert reused.counts_today == first.counts_today and reused.daily.days[-1].counts == first.daily.days[-1].counts
    exact = summary(now + timedelta(seconds=2), live_ttl=0)
    assert exact.counts_today[("item", "created")] == first.counts_today[("item", "created")] + 1
    later = summary(now + timedelta(seconds=6))
    assert later.counts_today[("item", "created")] == first.counts_today[("item", "created")] + 1
    assert later.daily.days[-1].counts["created"] == first.daily.days[-1].counts["created"] + 1
