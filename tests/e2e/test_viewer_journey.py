"""A viewer reads everything and changes nothing: no edit controls on the pages, and forged writes refused."""
from __future__ import annotations

from typing import Any

from tests.conftest import _CSRF as CSRF

from .pages import feed_rows


def test_viewer_sees_lists_feed_and_reports_without_any_edit_control(viewer_page: Any) -> None:
    page = viewer_page
    for path in ("/admin/items/", "/admin/bucketlists/", "/admin/users/"):
        page.goto(path)
        assert page.locator("table.model-list tbody tr").count() > 0, path
        for control in ("a:text-is('Create')", "input.action-checkbox", "form.icon button[title='Delete Record']",
                        "a[title='Edit Record']", "a:text-is('With selected')"):
            assert page.locator(control).count() == 0, (path, control)
    page.goto("/admin/reports/")
    assert page.locator("button:text-is('Run now')").count() == 0
    assert page.locator("table.report-definitions th:text-is('Run now')").count() == 0
    page.goto("/admin/activity/")
    assert len(feed_rows(page)) == 50
    page.goto("/admin/items/details/?id=1")
    assert page.locator("a:text-is('Edit')").count() == 0


def test_forged_posts_from_a_viewer_are_refused_and_change_nothing(viewer_page: Any, watch: Any) -> None:
    """POSTs with the viewer's own valid CSRF token, as a crafted page or script would send them: all 403."""
    page = viewer_page
    page.goto("/admin/items/")
    token = CSRF.search(page.content()).group(1)
    before = page.request.get("/admin/activity/feed.json?limit=5").json()["events"]
    forged = {
        "/admin/items/new/": {"title": "forged", "bucketlist": "1"},
        "/admin/items/edit/?id=1": {"title": "forged"},
        "/admin/items/delete/": {"id": "1"},
        "/admin/items/action/": {"action": "delete", "rowid": "1"},
        "/admin/users/new/": {"email": "evil@example.com", "role": "admin", "new_password": "x" * 12},
        "/admin/reports/run": {"report": "activity", "period": "today"},
    }
    for url, form in forged.items():
        response = page.request.post(url, form={**form, "csrf_token": token}, max_redirects=0)
        assert response.status == 403, (url, response.status)
    # And from the page itself, the way an injected form would post.
    watch.allowed.append("status of 403")  # Chromium logs the refused document load
    with page.expect_navigation():
        page.evaluate("""token => {
            const f = document.createElement('form');
            f.method = 'post'; f.action = '/admin/items/delete/';
            for (const [k, v] of [['id', '1'], ['csrf_token', token]]) {
                const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v;
                f.appendChild(i);
            }
            document.body.appendChild(f); f.submit();
        }""", token)
    assert page.inner_text("body").startswith("403") and "permission" in page.inner_text("body")
    assert page.request.get("/admin/activity/feed.json?limit=5").json()["events"] == before
