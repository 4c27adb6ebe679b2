"""The model lists in the browser, as a person reads them: times on one line, a bad filter given back with the
reason beside it, and a pager the keyboard can follow."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import LAPTOP, PHONE
from .pages import table_rows

LISTS = ("/admin/items/", "/admin/bucketlists/", "/admin/users/")
RELATIVE = re.compile(r"^(just now|\d+ min ago|1 hour ago|\d+ hours ago|1 day ago|\d+ days ago|"
                      r"\d{4}-\d\d-\d\d \d\d:\d\d)$")
EXACT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T$")  # the journeys' zone: Europe/Berlin


def _time_lines(page: Any) -> list[dict[str, Any]]:
    """Each time in the list table: its text, its title, and how many line boxes it takes (its height in lines)."""
    return page.eval_on_selector_all("table.model-list tbody time", """els => els.map(el => {
        const line = parseFloat(getComputedStyle(el.closest('td')).lineHeight);
        const box = el.getBoundingClientRect();
        return {text: el.innerText.trim(), title: el.title, boxes: el.getClientRects().length,
                lines: Math.round(box.height / line)};
    })""")


def _add_filter(page: Any, name: str, value: str) -> None:
    page.click("a:text-is('Add Filter')")
    page.click(f".field-filters a:text-is('{name}')")
    field = page.locator("#filter_form table.filters tr").last.locator("input.filter-val")
    field.fill(value)


def _apply_filters(page: Any) -> Any:
    with page.expect_navigation() as navigation:
        page.click("#filter_form button[type=submit]")
    return navigation.value


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_list_times_read_as_how_long_ago_on_one_line_with_the_exact_time_to_hand(make_page: Any,
                                                                               viewport: dict) -> None:
    page = make_page("viewer", viewport=viewport)
    for path in LISTS:
        page.goto(path)
        rows = table_rows(page, "table.model-list")
        assert rows, path
        assert "Deleted" not in rows[0] and "Created" in rows[0] and "Updated" in rows[0], path
        for row in rows:
            assert RELATIVE.match(row["Created"]) and RELATIVE.match(row["Updated"]), (path, row)
        times = _time_lines(page)
        assert len(times) >= 2 * len(rows)
        for shown in times:
            assert shown["boxes"] == 1 and shown["lines"] == 1, (path, viewport["width"], shown)
            assert EXACT.match(shown["title"]), (path, shown)
    # The Deleted column comes with the deleted rows.
    page.goto("/admin/items/?flt0_16=include")
    assert "Deleted" in table_rows(page, "table.model-list")[0]


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_a_bad_filter_gives_the_list_back_with_the_value_and_the_reason_beside_it(make_page: Any, watch: Any,
                                                                                viewport: dict) -> None:
    watch.allowed.append("status of 400")  # the refused list itself; nothing else may fail
    page = make_page("viewer", viewport=viewport)
    page.goto("/admin/items/")
    _add_filter(page, "Title", "a")
    _add_filter(page, "Created", "yesterday")
    response = _apply_filters(page)
    assert response.status == 400
    rows = page.locator("#filter_form table.filters tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("input.filter-val").input_value() == "a"
    field = rows.nth(1).locator("input.filter-val")
    assert field.input_value() == "yesterday"  # as typed
    assert field.get_attribute("aria-invalid") == "true" and "is-invalid" in (field.get_attribute("class") or "")
    error = rows.nth(1).locator(".filter-error")  # in the filter's own row
    assert error.inner_text().startswith("Created: 'yesterday' is not a date; use YYYY-MM-DD or YYYY-MM-DD HH:MM")
    assert field.get_attribute("aria-describedby") == error.get_attribute("id")
    assert field.get_attribute("aria-label") == "Created: value"  # each filter field named by its filter
    assert rows.nth(0).locator("input.filter-val").get_attribute("aria-label") == "Title: value"
    assert error.is_visible() and rows.nth(0).locator(".filter-error").count() == 0
    assert "No records are shown until the filter above is fixed." in page.inner_text("table.model-list")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    # Fixed where it stands: the list again, filtered.
    field.fill("2020-01-01 to 2099-12-31")
    assert _apply_filters(page).status == 200
    assert page.locator(".filter-error").count() == 0
    assert len(table_rows(page, "table.model-list")) == 50


def test_the_pager_is_followed_with_the_keyboard_alone(admin_page: Any) -> None:
    page = admin_page
    page.goto("/admin/items/")
    first = [row["ID"] for row in table_rows(page, "table.model-list")]
    assert page.locator(".list-pager .active").inner_text() == "Page 1"

    def tab_to(label: str) -> None:
        for _ in range(600):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.innerText.trim()") == label:
                return
        raise AssertionError(f"Tab never reached {label!r}")

    tab_to("Older")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "page=1" in page.url and page.locator(".list-pager .active").inner_text() == "Page 2"
    second = [row["ID"] for row in table_rows(page, "table.model-list")]
    assert second and not set(first) & set(second)
    tab_to("Newer")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "page=" not in page.url and page.locator(".list-pager .active").inner_text() == "Page 1"
    assert [row["ID"] for row in table_rows(page, "table.model-list")] == first


def test_screenshot_of_the_model_lists_for_the_docs(make_page: Any, live_server: Any, watch: Any,
                                                    screenshot_dir: Path) -> None:
    """docs pictures: the items list at laptop width, and the filter form giving back a refused value."""
    if live_server.kind != "sqlite":
        pytest.skip("the docs' screenshots are taken on SQLite; the other journeys cover these pages here")
    watch.allowed.append("status of 400")
    page = make_page("admin", viewport=LAPTOP)
    page.goto("/admin/items/")
    page.wait_for_load_state("networkidle")
    target = screenshot_dir / "items-list.png"
    page.screenshot(path=str(target))
    assert target.stat().st_size > 10_000
    _add_filter(page, "Created", "yesterday")
    assert _apply_filters(page).status == 400
    page.wait_for_load_state("networkidle")
    target = screenshot_dir / "filter-error.png"
    page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": LAPTOP["width"], "height": 420})
    assert target.stat().st_size > 10_000
