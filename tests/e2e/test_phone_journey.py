"""At phone width (375 px) the feed's events and the run history are stacked cards: nothing hides in a sideways
scroll, captions wrap, and the chart's text stays readable."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import PHONE

CARD_PAGES = {"activity": "/admin/activity/", "dashboard": "/admin/", "reports": "/admin/reports/?report=activity",
              "item history": "/admin/items/details/?id=2"}


def _cut(page: Any) -> list[str]:
    """Every card table's box or caption that is wider than the screen lets it be (scrolls sideways or clips), and
    what in it sticks out."""
    return page.evaluate("""() => [...document.querySelectorAll('.table-responsive, caption')]
        .filter(e => e.matches('caption') || e.querySelector('.feed-table, .report-history'))
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => e.tagName + '.' + e.className + ' ' + e.scrollWidth + '>' + e.clientWidth + ' ' +
             [...e.querySelectorAll('*')].filter(c => c.getBoundingClientRect().right >
                 e.getBoundingClientRect().right + 1).slice(0, 3).map(c => c.outerHTML.slice(0, 120)).join(' | '))""")


@pytest.mark.parametrize("name", list(CARD_PAGES))
def test_phone_pages_show_cards_with_nothing_cut(make_page: Any, name: str) -> None:
    page = make_page("admin", viewport=PHONE)
    if name == "reports":  # a run in the history to show as a card
        page.goto("/admin/reports/")
        with page.expect_navigation():
            page.locator("form[action$='/run']:has(input[name=report][value=activity]) button").click()
    page.goto(CARD_PAGES[name])
    page.wait_for_load_state("load")
    assert _cut(page) == [], f"{name}: something scrolls sideways or is clipped"
    if name == "reports":
        card = page.locator("table.report-history tbody tr").first
        assert card.evaluate("e => getComputedStyle(e).display") == "block"
        said = card.locator("td").evaluate_all("cells => cells.map(c => getComputedStyle(c, '::before').content)")
        assert '"Status: "' in said and any(s.startswith('"Period') for s in said)  # each part named
        return
    rows = page.locator("table.feed-table tbody tr[data-key]")
    assert rows.count() > 0
    for i in range(min(rows.count(), 5)):
        cells = rows.nth(i).locator("td")
        tops = [cells.nth(k).bounding_box()["y"] for k in range(6)]
        time, model, pk, action, who, record = tops
        assert abs(time - action) < 2 and abs(time - model) < 2 and abs(time - pk) < 2, "time, action, model: one line"
        assert who > time + 5 and record > time + 5, "who and the record are below"
        box = rows.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1


def test_the_charts_text_is_at_least_11_px_on_a_phone(make_page: Any) -> None:
    page = make_page("admin", viewport=PHONE)
    page.goto("/admin/")
    sizes = page.evaluate("""() => [...document.querySelectorAll('.activity-chart-svg text')].map(t => {
        const svg = t.ownerSVGElement, scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        return parseFloat(getComputedStyle(t).fontSize) * scale; })""")
    assert sizes and min(sizes) >= 11, sorted(sizes)[:5]


def test_screenshot_of_the_feed_on_a_phone_for_the_readme(make_page: Any, live_server: Any,
                                                        screenshot_dir: Path) -> None:
    if live_server.kind != "sqlite":
        pytest.skip("the README's screenshots are taken on SQLite")
    page = make_page("admin", viewport=PHONE)
    page.goto("/admin/activity/")
    target = screenshot_dir / "feed-phone.png"
    page.screenshot(path=str(target))
    assert target.stat().st_size > 10_000
