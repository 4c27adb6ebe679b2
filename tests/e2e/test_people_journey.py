"""People's pages in the browser: from an actor in the feed to their page, its counts to the feed they counted,
by mouse and by keyboard, at laptop and phone width."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from .conftest import LAPTOP, PHONE
from .pages import feed_rows, table_rows


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_an_actor_in_the_feed_opens_their_page_whose_counts_open_the_feed_they_counted(make_page: Any,
                                                                                       viewport: dict) -> None:
    page = make_page("viewer", viewport=viewport)  # viewers read people's pages, as they read the feed
    page.goto("/admin/activity/")
    link = page.locator("table.feed-table td.actor-cell a:not(:text-is('system'))").first
    email = link.inner_text()
    with page.expect_navigation():
        link.click()
    assert email in page.locator("h2.person-name").inner_text()
    assert page.locator(".person-facts time").count() == 2  # first and last activity
    counts = table_rows(page, "table.person-counts")
    assert counts, "a user who appears in the feed has counts in the last 30 days"
    first = page.locator("table.person-counts tbody tr").first
    model, action = counts[0]["Model"], counts[0]["Action"]
    number = first.locator("td a").last  # the 30 days count
    expected = int(number.inner_text().rstrip("+"))
    with page.expect_navigation():
        number.click()
    args = parse_qs(urlparse(page.url).query)
    assert args["action"] == [action] and "since" in args and args["actor"]
    rows = feed_rows(page)
    assert rows and {r["By"] for r in rows} == {email} and {r["Action"] for r in rows} == {action}
    assert len(rows) == min(expected, 50)  # the feed's first page (50) holds what was counted
    assert {r["Model"] for r in rows} == {model}


def test_the_system_has_its_own_page(make_page: Any) -> None:
    page = make_page("admin")
    page.goto("/admin/activity/by/system")
    assert page.locator("h2.person-name").inner_text() == "System"
    assert {r["By"] for r in feed_rows(page)} <= {"system"}


def test_a_person_page_is_usable_with_the_keyboard_alone(make_page: Any) -> None:
    page = make_page("admin")
    page.goto("/admin/activity/")
    page.focus("table.feed-table td.actor-cell a")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/admin/activity/by/" in page.url
    page.focus("a:text-matches('in the feed$')")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "actor=" in page.url


def test_screenshot_of_a_person_page_for_the_readme(make_page: Any, live_server: Any, screenshot_dir: Path) -> None:
    if live_server.kind != "sqlite":
        pytest.skip("the README's screenshots are taken on SQLite")
    page = make_page("admin")
    page.goto("/admin/activity/")
    with page.expect_navigation():
        page.locator("table.feed-table td.actor-cell a:not(:text-is('system'))").first.click()
    target = screenshot_dir / "person.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
