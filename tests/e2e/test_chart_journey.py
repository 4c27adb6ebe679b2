"""The dashboard's activity chart in the browser: drawn under the CSP, per model, and each day opens its feed."""
from __future__ import annotations

import re
from typing import Any

from .pages import feed_rows


def test_chart_bars_match_the_feed_and_the_model_choice_redraws_it(admin_page: Any) -> None:
    page = admin_page
    page.goto("/admin/")
    chart = page.locator("#activity-chart-section svg")
    assert chart.is_visible() and chart.bounding_box()["height"] > 150  # drawn, not an empty box
    days = page.locator("#activity-chart-section a.chart-day")
    assert days.count() == 30
    # Keyboard: each day is a focusable link; Enter opens that day's feed, whose rows are the bar's total.
    last = days.nth(29)
    label = last.get_attribute("aria-label")
    found = re.search(r"([\d,]+) events?", label)
    total = int(found.group(1).replace(",", "")) if found else 0  # "no events" just after midnight
    last.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/admin/activity/" in page.url and "since=" in page.url and "until=" in page.url
    shown = len(feed_rows(page)) if total else 0
    while page.locator("a[rel=next]").count():  # the whole day, across pages
        with page.expect_navigation():
            page.click("a[rel=next]")
        shown += len(feed_rows(page))
    assert shown == total, label
    # Model choice: 'item' only; the choice is marked and the bars change.
    page.goto("/admin/")
    all_labels = page.locator("a.chart-day").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    with page.expect_navigation():
        page.click(".chart-models a:text-is('Items')")
    assert page.inner_text(".chart-models a[aria-current=page]") == "Items"
    item_labels = page.locator("a.chart-day").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert item_labels != all_labels and len(item_labels) == 30
    table = page.locator("details.chart-table table")
    assert not table.is_visible()
    page.click("details.chart-table summary")  # the numbers as a table, for people who would rather read
    assert table.is_visible() and table.locator("tbody tr").count() == 30
