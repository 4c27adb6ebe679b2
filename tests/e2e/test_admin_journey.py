"""An admin changes an item through Flask-Admin's pages; each change is at the top of the feed, theirs."""
from __future__ import annotations

import re
import uuid
from typing import Any

from .pages import feed_rows
from .server import ADMIN


def _top_of_feed(page: Any) -> dict[str, str]:
    page.goto("/admin/activity/?model=item")
    return feed_rows(page)[0]


def _save(page: Any) -> None:
    with page.expect_navigation():
        page.click("input[type=submit][value=Save]")


def test_admin_creates_edits_deletes_and_restores_an_item_and_the_feed_shows_each(admin_page: Any) -> None:
    page = admin_page
    page.on("dialog", lambda dialog: dialog.accept())  # "Are you sure ...?" confirmations
    title = f"see the aurora {uuid.uuid4().hex[:6]}"

    # Create: the bucketlist is chosen in Select2's search box, which asks the server as the admin types.
    page.goto("/admin/items/")
    page.click("a:text-is('Create')")
    page.fill("#title", title)
    page.click("#s2id_bucketlist")
    page.keyboard.type("a")
    page.locator(".select2-results li.select2-result-selectable, .select2-results__option").first.click()
    _save(page)
    assert "Record was successfully created." in page.inner_text("body")
    top = _top_of_feed(page)
    assert (top["Action"], top["By"], top["Record"]) == ("created", ADMIN, title)
    item_id = top["ID"]

    # Edit, from the feed's link to the record.
    page.click(f"table.feed-table a:text-is('{item_id}')")
    page.wait_for_url(re.compile(r"/admin/items/details/"))
    page.goto(f"/admin/items/edit/?id={item_id}")
    page.fill("#title", title + " (done)")
    page.check("#done")
    _save(page)
    top = _top_of_feed(page)
    assert (top["ID"], top["Action"], top["By"], top["Record"]) == (item_id, "updated", ADMIN, title + " (done)")

    # Delete with the row's trash button (a confirmed POST form).
    page.goto(f"/admin/items/?search={title.split()[-1]}")
    with page.expect_navigation():
        page.click("form.icon button[title='Delete Record']")
    assert "Record was successfully deleted." in page.inner_text("body")
    top = _top_of_feed(page)
    assert (top["ID"], top["Action"], top["By"]) == (item_id, "deleted", ADMIN)

    # Restore: the list hides deleted rows until the Deleted filter says otherwise; then the Restore action.
    page.goto(f"/admin/items/?search={title.split()[-1]}")
    assert page.locator("input.action-checkbox").count() == 0
    page.click("a:text-is('Add Filter')")
    page.click(".field-filters a:text-is('Deleted')")
    # The filter's value is a Select2 list beside its operation's.
    page.locator("#filter_form select.filter-val").locator(
        "xpath=preceding-sibling::div[contains(@class, 'select2-container')][1]").click()
    page.click("#select2-drop .select2-results li:has-text('only deleted')")
    assert page.eval_on_selector("#filter_form select.filter-val", "s => s.value") == "only"
    with page.expect_navigation():
        page.click("#filter_form button[type=submit]")
    page.check(f"input.action-checkbox[value='{item_id}']")
    page.click("a:text-is('With selected')")
    with page.expect_navigation():
        page.click("a:text-is('Restore')")
    assert "1 record(s) restored." in page.inner_text("body")
    top = _top_of_feed(page)
    # A restore is an update of the row: the feed shows its latest update, by the admin.
    assert (top["ID"], top["Action"], top["By"], top["Record"]) == (item_id, "updated", ADMIN, title + " (done)")
