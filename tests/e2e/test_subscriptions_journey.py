"""Subscriptions in the browser: subscribe from a filtered feed, send a test to the local SMTP server, see it in
the delivery log, the navbar's count rise after a write and fall after opening, and the live feed show a new
event without a reload (no console error, no CSP violation: the fixture checks)."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from admin_app.models import Bucketlist, Item


def write_item(server: Any, title: str) -> None:
    """An item created by another client, straight into the server's database."""
    engine = create_engine(server.url)
    with Session(engine) as session:
        bucketlist = session.scalars(select(Bucketlist).where(Bucketlist.deleted_at.is_(None)).limit(1)).one()
        session.add(Item(bucketlist_id=bucketlist.id, title=title))
        session.commit()
    engine.dispose()


def test_subscribe_test_it_count_new_events_and_watch_the_feed_live(admin_page: Any, live_server: Any) -> None:
    page = admin_page
    name = f"Items journey {uuid.uuid4().hex[:6]}"
    page.goto("/admin/activity/?model=item")
    with page.expect_navigation():
        page.click("a.subscribe")
    assert page.eval_on_selector("#model", "s => Array.from(s.selectedOptions).map(o => o.value)") == ["item"]
    page.fill("#name", name)
    page.select_option("#cadence", "hourly")
    page.check("#email")
    with page.expect_navigation():
        page.click("button:text-is('Subscribe')")
    row = page.locator("tr", has_text=name)
    assert "Items; every action" in row.inner_text() and "email, in the app" in row.inner_text()

    before = len(live_server.smtp.messages)
    with page.expect_navigation():
        row.locator("button:text-is('Send a test')").click()
    assert "Test by email to admin@example.com: sent" in page.inner_text(".alert")
    assert len(live_server.smtp.messages) == before + 1
    assert name in live_server.smtp.messages[-1]["Subject"]
    page.goto("/admin/subscriptions/deliveries/")
    assert "tested" in page.locator("tr", has_text=name).first.inner_text()

    def counts() -> tuple[int, int]:
        """The navbar's count (all of the admin's in-app subscriptions) and this subscription's own."""
        page.goto("/admin/subscriptions/")
        mine = page.locator("tr", has_text=name).locator("td").nth(7).inner_text()
        return int(page.inner_text(".unseen-count .badge").rstrip("+")), int(mine)

    total, mine = counts()
    assert mine == 0
    write_item(live_server, f"Counted {name}")
    after_write = counts()
    assert after_write[1] == 1 and after_write[0] > total  # the bell counts it (other subscriptions may too)
    with page.expect_navigation():
        page.click(f"a:text-is('{name}')")
    assert f"Counted {name}" in page.inner_text("table.feed-table")
    after_open = counts()
    assert after_open == (after_write[0] - 1, 0)  # opened: its events are seen

    page.goto("/admin/activity/")
    page.check("#live-toggle")
    page.wait_for_selector("#live-status:text-is('up to date')")
    write_item(live_server, f"Live {name}")
    page.wait_for_selector(f"table.feed-table tbody tr:first-child td:text-is('Live {name}')", timeout=20_000)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload happened
