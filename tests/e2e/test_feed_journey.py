"""The dashboard and the activity feed in the browser: latest events, filters, paging, CSV download."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .pages import FEED_HEADERS, SHOWN, event_keys, feed_json, feed_rows, json_keys
from .server import ZONE


def test_dashboard_shows_the_latest_events_newest_first_with_times_in_the_zone(admin_page: Any) -> None:
    page = admin_page
    page.goto("/admin/")
    rows = feed_rows(page)
    assert event_keys(rows) == json_keys(feed_json(page, limit=20)["events"])
    headers = page.eval_on_selector_all("table.feed-table thead th", "ths => ths.map(t => [t.scope, t.innerText])")
    assert [h[1].split(" (")[0] for h in headers] == list(FEED_HEADERS)
    assert all(scope == "col" for scope, _ in headers)
    assert f"Time ({ZONE})" == headers[0][1]
    times = [datetime.strptime(r["Time"][:19], "%Y-%m-%d %H:%M:%S") for r in rows]
    assert times == sorted(times, reverse=True)
    assert all(r["Time"].endswith(("CET", "CEST")) for r in rows)  # Berlin's abbreviation, not the browser's


def test_filtering_by_model_action_actor_and_window_shows_only_matching_events(admin_page: Any) -> None:
    page = admin_page
    page.goto("/admin/activity/")
    # Someone who updated items recently, from the feed itself.
    actor = next(e["actor"]["email"] for e in feed_json(page, model="item", action="updated", limit=100)["events"]
                 if e["actor"])
    zone = ZoneInfo(ZONE)
    today = datetime.now(zone).date()
    since, until = (today - timedelta(days=20)).isoformat(), (today + timedelta(days=1)).isoformat()
    page.select_option("#model", "item")
    page.select_option("#action", "updated")
    page.fill("#actor", actor)
    page.fill("#since", since)
    page.fill("#until", until)
    with page.expect_navigation():
        page.click("button:text-is('Filter')")
    rows = feed_rows(page)
    assert rows, "the filter matched nothing: the seeded history should have such events"
    assert {(r["Model"], r["Action"], r["By"]) for r in rows} == {("Items", "updated", actor)}
    low = datetime.fromisoformat(since).replace(tzinfo=zone)
    high = datetime.fromisoformat(until).replace(tzinfo=zone)
    for r in rows:
        shown = datetime.strptime(r["Time"][:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
        assert low <= shown < high, r
    expected = feed_json(page, model="item", action="updated", actor=actor, since=since, until=until)
    assert event_keys(rows) == json_keys(expected["events"])
    # The form keeps what was asked, so the next change starts from it.
    assert page.input_value("#actor") == actor and page.input_value("#model") == "item"
    with page.expect_navigation():
        page.click("text=Reset")
    assert page.input_value("#actor") == "" and len(feed_rows(page)) == 50


def test_older_pages_go_deep_without_gaps_and_back_returns_the_same_pages(admin_page: Any) -> None:
    page = admin_page
    page.goto("/admin/activity/?limit=25")
    pages = [event_keys(feed_rows(page))]
    for _ in range(5):
        with page.expect_navigation():
            page.click("a[rel=next]")
        pages.append(event_keys(feed_rows(page)))
    seen = [key for p in pages for key in p]
    assert seen == json_keys(feed_json(page, limit=150)["events"])  # the same 150 events, in order, no repeats
    assert len(set(seen)) == 150
    for expected in reversed(pages[:-1]):
        page.go_back()
        assert event_keys(feed_rows(page)) == expected
    page.go_forward()
    page.go_forward()
    assert event_keys(feed_rows(page)) == pages[2]
    with page.expect_navigation():
        page.click("text=Newest")
    assert event_keys(feed_rows(page)) == pages[0]
    assert page.locator("text=Newest").count() == 0


def test_download_csv_has_the_filtered_feeds_rows(admin_page: Any) -> None:
    page = admin_page
    page.goto("/admin/activity/?model=bucketlist&action=created&limit=500")
    shown = event_keys(feed_rows(page))
    assert 0 < len(shown) < 500  # the whole filtered feed is on this page
    with page.expect_download() as info:
        page.locator("text=Download CSV").first.click()  # above the table (and again below it)
    download = info.value
    assert download.suggested_filename.startswith("activity_") and download.suggested_filename.endswith(".csv")
    with open(download.path(), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(io.StringIO(fh.read())))
    assert [(SHOWN[r["model"]], int(r["id"]), r["action"]) for r in rows] == shown
    assert all(r["at"].endswith("+00:00") for r in rows)  # files carry UTC, unambiguous


def test_a_dashboard_counter_opens_the_feed_it_counted(admin_page: Any) -> None:
    page = admin_page
    page.goto("/admin/")
    row = page.locator("table.event-counts tbody tr", has_text="Bucketlists deleted")
    link = row.locator("td a").nth(1)  # the last 7 days
    counted = int(link.inner_text().replace(",", ""))
    assert counted > 0  # the seeded week has deletions
    with page.expect_navigation():
        link.click()
    assert "model=bucketlist" in page.url and "action=deleted" in page.url
    rows = feed_rows(page)
    assert len(rows) == counted and {(r["Model"], r["Action"]) for r in rows} == {("Bucketlists", "deleted")}
