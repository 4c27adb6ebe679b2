"""Logging in and out in the browser, and the page watch itself."""
from __future__ import annotations

from typing import Any

from .server import ADMIN, LEAVER, PASSWORD


def test_wrong_password_stays_on_login_with_message_then_right_one_opens_dashboard(make_page: Any,
                                                                                   watch: Any) -> None:
    watch.allowed.append("status of 401")  # the refused login is answered 401, which Chromium logs
    page = make_page(role=None)
    page.goto("/admin/")
    assert "/login" in page.url  # anonymous: sent to log in, and back afterwards
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", "not-the-password")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login" in page.url
    assert "Wrong email or password." in page.inner_text("main")
    assert page.input_value("input[name=password]") == ""
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    assert f"{ADMIN} (admin)" in page.inner_text("nav")


def test_log_out_ends_the_session_and_admin_pages_ask_to_log_in_again(make_page: Any) -> None:
    page = make_page(role=None)
    page.goto("/login")
    page.fill("input[name=email]", LEAVER)  # not a shared account: logging out ends all of an account's sessions
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    page.click("form.logout button")
    page.wait_for_url("**/login**")
    for path in ("/admin/", "/admin/activity/", "/admin/reports/", "/admin/items/"):
        page.goto(path)
        assert "/login" in page.url, path


def test_page_watch_catches_a_csp_violation(make_page: Any, watch: Any) -> None:
    """The zero-errors check can fail: an inline handler injected into a page is refused and reported."""
    page = make_page("admin")
    page.goto("/admin/")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"data:,\" onerror=\"window.x=1\">')")
    page.wait_for_timeout(200)
    assert any("CSP violation: script-src" in e for e in watch.errors), watch.errors
    assert page.evaluate("window.x") is None  # and the handler did not run
    watch.errors.clear()
