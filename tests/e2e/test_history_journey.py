"""A record's own history on its details page, at laptop and phone width: its events with who and when, a parent's
children's latest events, and the link to the feed filtered to that record (by mouse and by keyboard)."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from .conftest import LAPTOP, PHONE
from .pages import feed_rows


def _first_details(page: Any, view: str) -> str:
    """The details page of the newest row of a model list (its eye icon)."""
    page.goto(f"/admin/{view}/")
    return page.locator("table.model-list a[href*='/details/']").first.get_attribute("href")


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_an_items_history_shows_its_events_and_opens_the_feed_of_that_item(make_page: Any, viewport: dict) -> None:
    page = make_page("viewer", viewport=viewport)
    page.goto(_first_details(page, "items"))
    item_id = parse_qs(urlparse(page.url).query)["id"][0]
    history = feed_rows(page)  # the details page's own events table
    assert history and {r["ID"] for r in history} == {item_id}
    assert "created" in {r["Action"] for r in history} and all(r["By"] for r in history)
    with page.expect_navigation():
        page.click("a:text-is('Open in the activity feed')")
    args = parse_qs(urlparse(page.url).query)
    assert args["model"] == ["item"] and args["id"] == [item_id]
    shown = feed_rows(page)
    assert [(r["Action"], r["Time"]) for r in shown] == [(r["Action"], r["Time"]) for r in history]
    assert "Only the events of Items #" + item_id in page.inner_text(".record-note")


def test_a_bucketlists_page_lists_the_latest_events_of_its_items(make_page: Any) -> None:
    page = make_page("admin")
    page.goto("/admin/bucketlists/")
    pages = page.locator("table.model-list a[href*='/details/']").evaluate_all("links => links.map(a => a.href)")
    for href in pages[:10]:  # the seeded lists hold items; a newly created one may not yet
        page.goto(href)
        if page.locator("#children-history").count():
            break
    else:
        pytest.fail("none of the 10 newest bucketlists shows its items' events")
    children = page.locator("table.feed-table").nth(1)
    models = children.locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert models and set(models) == {"Items"}
    with page.expect_navigation():
        children.locator("tbody tr td:nth-child(3) a").first.click()  # a child's own record
    assert "/admin/items/details/" in page.url


def test_a_records_history_is_usable_with_the_keyboard_alone(make_page: Any) -> None:
    page = make_page("admin")
    page.goto(_first_details(page, "items"))
    page.focus("a:text-is('Open in the activity feed')")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "id=" in page.url and "model=item" in page.url


def test_screenshot_of_an_items_history_for_the_readme(make_page: Any, live_server: Any, screenshot_dir: Path) -> None:
    if live_server.kind != "sqlite":
        pytest.skip("the README's screenshots are taken on SQLite")
    page = make_page("admin")
    page.goto(_first_details(page, "items"))
    target = screenshot_dir / "item-history.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
