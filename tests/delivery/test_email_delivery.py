"""Subscriptions delivered by email to a real SMTP server on 127.0.0.1 (aiosmtpd): exactly the events since the
last delivery, each once; the message's parts and headers; retries of 4xx replies and none of 5xx; one catch-up
after an outage; pausing after failures; a lost delivery sent again with the same Message-ID."""
from __future__ import annotations

import csv
import gzip
import io
from datetime import timedelta

from admin_app.extensions import db
from flask_activity.delivery import deliverer
from flask_activity.delivery.models import Delivery
from flask_activity.testing.server import free_port
from tests import factories
from tests.delivery.helpers import deliveries, item_ids, items_at, minute_after, subscribe


def test_each_delivery_holds_exactly_the_events_since_the_last_one(app, admin_user, smtp):
    sub, _ = subscribe(admin_user)
    start = sub.email_cursor
    bucketlist = factories.bucketlist(admin_user)  # created now: in the first window too
    first = items_at(bucketlist, start + timedelta(milliseconds=1), 3)
    fire1, fire2 = minute_after(start), minute_after(start, 2)

    assert [d.status for d in deliverer.tick(fire1 + timedelta(seconds=1))] == ["sent"]
    second = items_at(bucketlist, fire1 + timedelta(seconds=10), 2)
    assert [d.status for d in deliverer.tick(fire2 + timedelta(seconds=1))] == ["sent"]
    assert deliverer.tick(fire2 + timedelta(seconds=30)) == []  # nothing due until the next minute
    assert deliverer.tick(minute_after(start, 3) + timedelta(seconds=1)) == []  # due, but empty: nothing sent

    assert [sorted(item_ids(m)) for m in smtp.messages] == [sorted(first), sorted(second)]
    sent = deliveries(sub)
    assert [(d.window_start, d.window_end, d.events) for d in sent] == [(start, fire1, 4), (fire1, fire2, 2)]
    db.session.refresh(sub)
    assert sub.email_cursor == minute_after(start, 3)  # the empty window moved the cursor on without a send


def test_the_digest_email_has_both_parts_a_stable_id_and_one_click_unsubscribe(app, admin_user, smtp):
    sub, _ = subscribe(admin_user, timezone="Europe/Berlin", filters={"model": ["item"], "action": ["created"]})
    bucketlist = factories.bucketlist(admin_user)
    items_at(bucketlist, sub.email_cursor + timedelta(milliseconds=1), 2, title="<script>alert(1)</script>")
    [delivery] = deliverer.tick(minute_after(sub.email_cursor) + timedelta(seconds=1))

    [message] = smtp.messages
    assert smtp.envelopes == [("activity@example.com", [admin_user.email])]
    assert message["Subject"] == "[Bucketlist Admin] Items watch: 2 new events"
    assert message["To"] == admin_user.email and message["From"] == "activity@example.com"
    assert message["Message-ID"] == f"<{delivery.key}@example.com>"
    assert message["List-Unsubscribe"].startswith("<https://admin.example.com/activity/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "CET" in text or "CEST" in text  # the owner's zone, named
    assert "https://admin.example.com/admin/activity/?" in text and "model=item" in text and "action=created" in text
    assert "<table" in html and "Open these events in the feed" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; 1" in html  # labels escaped
    assert not list(message.iter_attachments())  # all of them are in the body


def test_more_events_than_the_digest_shows_come_as_a_formula_safe_csv(app, admin_user, smtp):
    app.config.update(DIGEST_MAX_EVENTS=3, DIGEST_GZIP_OVER=200)
    sub, _ = subscribe(admin_user, filters={"model": ["item"]})
    bucketlist = factories.bucketlist(admin_user)
    ids = items_at(bucketlist, sub.email_cursor + timedelta(milliseconds=1), 7, title="=HYPERLINK(1)")
    deliverer.tick(minute_after(sub.email_cursor) + timedelta(seconds=1))

    [message] = smtp.messages
    assert len(item_ids(message)) == 3 and "and 4 more" in message.get_body(("plain",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "events.csv.gz"
    text = gzip.decompress(attachment.get_content()).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(int(r["id"]) for r in rows) == sorted(ids), text
    assert all(r["label"].startswith("'=") for r in rows)  # a formula shown as text, never run


def test_a_4xx_reply_is_retried_and_a_5xx_is_not(app, admin_user, smtp):
    sub, _ = subscribe(admin_user)
    bucketlist = factories.bucketlist(admin_user)
    smtp.replies.extend(["421 Service not available, try later", "451 Local error, try later"])
    [sent] = deliverer.tick(minute_after(sub.email_cursor) + timedelta(seconds=1))
    assert (sent.status, sent.attempts, len(smtp.messages)) == ("sent", 3, 1)
    assert [a["code"] for a in sent.details] == [421, 451, 250]

    items_at(bucketlist, minute_after(sub.email_cursor, 1) + timedelta(seconds=5), 1)
    smtp.replies.append("550 No such user here")
    cursor = deliveries(sub)[-1].window_end
    [refused] = deliverer.tick(minute_after(sub.email_cursor, 2) + timedelta(seconds=1))
    assert (refused.status, refused.attempts, refused.code) == ("failed", 1, 550)
    assert "550 No such user here" in (refused.error or "")
    db.session.refresh(sub)
    assert sub.email_cursor == cursor and sub.failures == 1  # not moved on: the events are still owed


def test_an_outage_of_three_periods_ends_in_one_catch_up_with_every_event_once(app, admin_user, smtp):
    sub, _ = subscribe(admin_user)
    start = sub.email_cursor
    bucketlist = factories.bucketlist(admin_user)
    working = app.config["SMTP_URL"]
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    expected = []
    for n in range(1, 4):
        when = minute_after(start, n - 1) + timedelta(seconds=20) if n > 1 else start + timedelta(milliseconds=1)
        expected += items_at(bucketlist, when, 2)
        [failed] = deliverer.tick(minute_after(start, n) + timedelta(seconds=1))
        assert failed.status == "failed" and failed.attempts == app.config["DELIVERY_MAX_ATTEMPTS"]
    app.config["SMTP_URL"] = working
    expected += items_at(bucketlist, minute_after(start, 3) + timedelta(seconds=20), 1)
    [caught_up] = deliverer.tick(minute_after(start, 4) + timedelta(seconds=1))

    assert caught_up.status == "sent" and caught_up.periods == 4
    [message] = smtp.messages
    assert sorted(item_ids(message)) == sorted(expected)  # every event once, none lost in the outage
    assert "catches up 4 periods" in message.get_body(("plain",)).get_content()


def test_a_subscription_failing_again_and_again_is_paused_with_the_reason(app, admin_user, smtp):
    app.config.update(DELIVERY_PAUSE_AFTER=2, DELIVERY_MAX_ATTEMPTS=1)
    sub, _ = subscribe(admin_user, send_empty=True)
    smtp.replies.extend(["554 Transaction failed", "554 Transaction failed"])
    deliverer.tick(minute_after(sub.email_cursor) + timedelta(seconds=1))
    deliverer.tick(minute_after(sub.email_cursor, 2) + timedelta(seconds=1))
    db.session.refresh(sub)
    assert sub.paused_at is not None and "paused after 2 failed deliveries in a row" in (sub.paused_reason or "")
    assert "554 Transaction failed" in (sub.paused_reason or "")
    assert deliverer.tick(minute_after(sub.email_cursor, 3) + timedelta(seconds=1)) == []  # paused: nothing sent


def test_a_delivery_whose_sender_died_before_recording_it_is_sent_again_with_the_same_id(app, admin_user, smtp):
    sub, _ = subscribe(admin_user)
    bucketlist = factories.bucketlist(admin_user)
    start = sub.email_cursor
    ids = items_at(bucketlist, start + timedelta(milliseconds=1), 2)
    fire = minute_after(start)
    [first] = deliverer.tick(fire + timedelta(seconds=1))
    # As if the process had died between the SMTP server's 250 and the commit: the row is still 'sending'.
    db.session.execute(db.update(Delivery).where(Delivery.id == first.id).values(status="sending", pid=2 ** 22 + 7))
    db.session.execute(db.update(type(sub)).where(type(sub).id == sub.id).values(email_cursor=start))
    db.session.commit()

    [again] = deliverer.tick(minute_after(start, 2) + timedelta(seconds=1))
    assert again.status == "sent" and again.key == first.key and again.window_end == fire  # same id, same window
    assert [m["Message-ID"] for m in smtp.messages] == [smtp.messages[0]["Message-ID"]] * 2
    assert sorted(item_ids(smtp.messages[1])) == sorted(item_ids(smtp.messages[0])) == sorted(ids)
    lost = db.session.get(Delivery, first.id)
    assert lost is not None and lost.status == "lost" and "stopped before it recorded" in (lost.error or "")


def test_deliveries_send_their_signals_and_count_in_the_metrics(app, admin_user, smtp):
    from flask_activity.metrics import Metrics
    from flask_activity.testing import record_signals

    sub, _ = subscribe(admin_user, send_empty=True)
    metrics = Metrics()
    smtp.replies.append("550 Mailbox unavailable")
    with record_signals("delivery-sent", "delivery-failed") as fired:
        deliverer.tick(minute_after(sub.email_cursor) + timedelta(seconds=1))
        deliverer.tick(minute_after(sub.email_cursor, 2) + timedelta(seconds=1))
    failed, sent = fired.one("delivery-failed"), fired.one("delivery-sent")
    assert (failed.kwargs["status"], failed.kwargs["attempts"]) == ("failed", 1)
    assert (sent.kwargs["channel"], sent.kwargs["events"]) == ("email", 0) and "lag" in sent.kwargs
    for f in (failed, sent):
        metrics.on_delivery(None, **f.kwargs)
    assert metrics.deliveries.labels("email", "sent")._value.get() == 1
    assert metrics.deliveries.labels("email", "failed")._value.get() == 1
    assert metrics.delivery_attempts.labels("email")._value.get() == 2
