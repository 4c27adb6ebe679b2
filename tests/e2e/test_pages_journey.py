"""Every admin page in the browser: no console or CSP errors, readable at phone width, usable by keyboard."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import LAPTOP, PHONE

PAGES = {
    "dashboard": "/admin/",
    "dashboard exact": "/admin/?exact=1",
    "dashboard items chart": "/admin/?chart_model=item",
    "display settings": "/admin/settings/",
    "activity": "/admin/activity/",
    "activity filtered": "/admin/activity/?model=item&action=deleted&since=2020-01-01",
    "activity empty": "/admin/activity/?since=2001-01-01&until=2001-01-02",
    "reports": "/admin/reports/",
    "report history": "/admin/reports/?report=activity",
    "items": "/admin/items/",
    "items deleted": "/admin/items/?flt1_16=only",
    "item details": "/admin/items/details/?id=2",
    "item edit": "/admin/items/edit/?id=2",
    "item create": "/admin/items/new/",
    "bucketlists": "/admin/bucketlists/",
    "bucketlist edit": "/admin/bucketlists/edit/?id=2",
    "users": "/admin/users/",
    "user edit": "/admin/users/edit/?id=2",
    "user create": "/admin/users/new/",
}


def _overflow(page: Any) -> int:
    """How far the page is wider than the screen (px); wide tables scroll inside their own box instead."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_every_admin_page_loads_without_console_or_csp_errors_and_fits_the_screen(make_page: Any,
                                                                                  viewport: dict) -> None:
    page = make_page("admin", viewport=viewport)
    for name, path in PAGES.items():
        response = page.goto(path)
        assert response.status == 200, (name, response.status)
        if name == "items deleted":  # the Deleted filter, by its position in the URL: still that filter?
            assert page.locator("#filter_form select.filter-val").input_value() == "only"
        page.wait_for_load_state("load")  # Flask-Admin's scripts (Select2, date pickers) have run
        assert _overflow(page) <= 1, f"{name} is {_overflow(page)} px wider than a {viewport['width']} px screen"


def test_a_bad_filter_keeps_the_form_with_the_error_beside_its_field(admin_page: Any, watch: Any) -> None:
    watch.allowed.append("status of 400")  # the refused document itself; nothing else may fail
    page = admin_page
    page.goto("/admin/activity/")
    page.select_option("#model", "item")
    page.fill("#since", "yesterday-ish")
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    assert navigation.value.status == 400
    assert page.input_value("#since") == "yesterday-ish" and page.input_value("#model") == "item"  # as typed
    assert "is-invalid" in (page.get_attribute("#since", "class") or "")
    assert page.inner_text("#filter-error").startswith("From: 'yesterday-ish' is not a date; use YYYY-MM-DD")
    page.fill("#since", "")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#filter-error").count() == 0 and page.locator("table.feed-table").count() == 1


def test_feed_is_usable_with_the_keyboard_alone(admin_page: Any) -> None:
    """Tab reaches the filters in order, Enter applies them, and the focused control is visibly marked."""
    page = admin_page
    page.goto("/admin/activity/")
    page.focus("#since")
    order = []
    for _ in range(7):
        order.append(page.evaluate("document.activeElement.id || document.activeElement.innerText"))
        page.keyboard.press("Tab")
    assert order == ["since", "until", "model", "action", "actor", "Filter", "Reset"]
    page.focus("#model")
    page.keyboard.press("ArrowDown")  # a closed <select> changes with the arrow keys
    chosen = page.input_value("#model")
    assert chosen
    page.focus("#actor")
    outline = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
                                       return s.outlineStyle !== 'none' || s.boxShadow !== 'none'; }""")
    assert outline, "the focused field has no visible focus mark"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"model={chosen}" in page.url
    # The pager is reachable too: Older is a link the keyboard can follow.
    page.focus("a[rel=next]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "cursor=" in page.url


@pytest.mark.parametrize("name, path", [("dashboard", "/admin/"), ("activity", "/admin/activity/"),
                                        ("reports", "/admin/reports/"), ("subscriptions", "/admin/subscriptions/")])
def test_screenshot_of_page_for_the_readme(make_page: Any, live_server: Any, screenshot_dir: Path,
                                          name: str, path: str) -> None:
    """The README's pictures come from here (make screenshots); at laptop and phone width."""
    if live_server.kind != "sqlite":
        pytest.skip("the README's screenshots are taken on SQLite; the other journeys cover these pages here")
    if name == "reports":  # a history worth showing: one run of each of two reports
        page = make_page("admin")
        page.goto(path)
        for report in ("daily-activity", "user-activity"):
            with page.expect_navigation():
                page.locator(f"form[action$='/run']:has(input[name=report][value={report}]) button").click()
        # Run now answers at once; the rows refresh themselves until both files are written
        page.wait_for_selector("tr[data-status=queued], tr[data-status=running]", state="detached")
    if name == "subscriptions":  # two subscriptions, one tested by email: the page, and that email as received
        page = make_page("admin")
        for title, query, email in (("Deleted items", "?model=item&action=deleted", True),
                                    ("Everything, in the app", "", False)):
            page.goto(f"/admin/subscriptions/new/{query}")
            page.fill("#name", title)
            page.select_option("#cadence", "daily")
            if email:
                page.check("#email")
            with page.expect_navigation():
                page.click("button:text-is('Subscribe')")
        with page.expect_navigation():
            page.locator("tr", has_text="Deleted items").locator("button:text-is('Send a test')").click()
        message = live_server.smtp.messages[-1]
        mail = make_page(None)  # a blank page, as a mail client shows it: not under the app's CSP
        mail.set_content(message.get_body(("html",)).get_content())
        target = screenshot_dir / "digest-email.png"
        mail.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 10_000
    for label, viewport in (("", LAPTOP), ("-phone", PHONE)):
        page = make_page("admin", viewport=viewport)
        page.goto(path)
        page.wait_for_load_state("networkidle")
        target = screenshot_dir / f"{name}{label}.png"
        page.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 10_000  # a rendered page, not a blank one
