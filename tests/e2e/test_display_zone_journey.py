"""A user picks their own display time zone from the navbar; every time on the pages follows it."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .pages import feed_json, feed_rows
from .server import ZONE


def test_choosing_a_zone_changes_the_times_shown_and_how_typed_dates_are_read(make_page: Any) -> None:
    page = make_page("traveller")
    page.goto("/admin/activity/?model=item")
    assert page.inner_text("a.display-zone").strip().endswith(ZONE)  # the app default, shown on every page
    before = feed_rows(page)[0]
    page.click("a.display-zone")
    page.select_option("#timezone", "Asia/Kolkata")
    with page.expect_navigation():
        page.click("button:text-is('Save')")
    # Back on the page they came from, in their zone (UTC+05:30, no DST: an exact shift of the same instant).
    assert page.url.endswith("/admin/activity/?model=item")
    assert "Times are now shown in Asia/Kolkata." in page.inner_text(".alert-success")
    assert page.inner_text("a.display-zone").strip().endswith("Asia/Kolkata")
    assert page.inner_text("table.feed-table thead th >> nth=0") == "Time (Asia/Kolkata)"
    after = feed_rows(page)[0]
    assert (after["ID"], after["Action"]) == (before["ID"], before["Action"])
    shown_berlin = datetime.strptime(before["Time"][:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(ZONE))
    shown_kolkata = datetime.strptime(after["Time"][:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo("Asia/Kolkata"))
    assert shown_berlin == shown_kolkata and after["Time"].endswith("IST")
    # Dates typed into the filter are read in the user's zone: yesterday 00:00-06:00 in Kolkata, not in Berlin
    # (the two windows are 4.5 hours apart, so they hold different events).
    kolkata, berlin = ZoneInfo("Asia/Kolkata"), ZoneInfo(ZONE)
    day = datetime.now(kolkata).date() - timedelta(days=1)
    page.fill("#since", day.isoformat())
    page.fill("#until", f"{day.isoformat()} 06:00")
    with page.expect_navigation():
        page.click("button:text-is('Filter')")
    shown = [int(r["ID"]) for r in feed_rows(page)]

    def window(zone: ZoneInfo) -> list[int]:
        start = datetime.combine(day, time(0), tzinfo=zone)
        events = feed_json(page, model="item", since=start.isoformat(),
                           until=(start + timedelta(hours=6)).isoformat(), limit=500)["events"]
        return [e["id"] for e in events]

    assert shown and shown == window(kolkata)
    assert shown != window(berlin)
    # The reports page and the dashboard name the same zone.
    page.goto("/admin/reports/")
    assert "Started (Asia/Kolkata)" in page.inner_text("table.report-history thead")
    page.goto("/admin/")
    assert "Time (Asia/Kolkata)" in page.inner_text("table.feed-table thead")
    # And back to the app's default.
    page.click("a.display-zone")
    page.select_option("#timezone", "")
    with page.expect_navigation():
        page.click("button:text-is('Save')")
    assert page.inner_text("a.display-zone").strip().endswith(ZONE)
