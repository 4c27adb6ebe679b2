"""Subscriptions delivered to a real HTTP receiver on 127.0.0.1: signed with the documented recipe, carrying a
stable Idempotency-Key; 500 then 200 retried, 410 not, a redirect refused, a receiver that never answers marked
'lost' (sent again with the same key); unsafe URLs refused."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest

from flask_activity.delivery import deliverer
from flask_activity.delivery.subscriptions import SubscriptionError, check_webhook_url
from tests import factories
from tests.delivery.helpers import deliveries, items_at, minute_after, subscribe


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The README's verifier, as a receiver would write it: HMAC-SHA256 of "t.body", at most 5 minutes old."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp, signature = int(parts["t"]), parts["v1"]
    if abs(time.time() - timestamp) > tolerance:
        return False  # a replay of an old delivery
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def test_a_webhook_delivery_is_signed_and_carries_its_events_and_a_stable_key(app, admin_user, receiver):
    sub, secret = subscribe(admin_user, email=False, webhook_url=receiver.url, filters={"model": ["item"]})
    assert secret is not None and secret.startswith("whsec_")
    bucketlist = factories.bucketlist(admin_user)
    start = sub.webhook_cursor
    ids = items_at(bucketlist, start + timedelta(milliseconds=1), 3)
    [delivery] = deliverer.tick(minute_after(start) + timedelta(seconds=1))

    [got] = receiver.requests
    assert delivery.status == "sent" and delivery.code == 200 and delivery.response_ms is not None
    assert verify(secret, got["headers"]["X-Signature"], got["body"])
    assert not verify(secret, got["headers"]["X-Signature"], got["body"] + b" ")  # a changed body fails
    assert not verify("whsec_other", got["headers"]["X-Signature"], got["body"])
    assert got["headers"]["Idempotency-Key"] == delivery.key
    body = json.loads(got["body"])
    assert body["id"] == delivery.key and body["count"] == 3 and not body["truncated"]
    assert sorted(e["id"] for e in body["events"]) == sorted(ids)
    assert body["window"] == {"since": start.isoformat(), "until": minute_after(start).isoformat()}


def test_a_500_is_retried_a_410_is_not_and_a_redirect_is_refused(app, admin_user, receiver):
    sub, _ = subscribe(admin_user, email=False, webhook_url=receiver.url, send_empty=True)
    start = sub.webhook_cursor
    receiver.script.extend([(500, 0, {}), (200, 0, {})])
    [retried] = deliverer.tick(minute_after(start) + timedelta(seconds=1))
    assert (retried.status, retried.attempts, [a["code"] for a in retried.details]) == ("sent", 2, [500, 200])

    receiver.script.append((410, 0, {}))
    [gone] = deliverer.tick(minute_after(start, 2) + timedelta(seconds=1))
    assert (gone.status, gone.attempts, gone.code) == ("failed", 1, 410)

    receiver.script.append((302, 0, {"Location": "http://127.0.0.1:9/elsewhere"}))
    [moved] = deliverer.tick(minute_after(start, 3) + timedelta(seconds=1))
    assert (moved.status, moved.attempts, moved.code) == ("failed", 1, 302)
    assert "redirects are not followed" in (moved.error or "")
    assert [r["path"] for r in receiver.requests] == ["/hook"] * 4  # the redirect was never followed


def test_a_receiver_that_never_answers_is_lost_and_gets_the_same_key_again(app, admin_user, receiver):
    app.config["DELIVERY_MAX_ATTEMPTS"] = 2
    sub, _ = subscribe(admin_user, email=False, webhook_url=receiver.url, send_empty=True)
    start = sub.webhook_cursor
    receiver.script.extend([(200, 1.0, {}), (200, 1.0, {})])  # answers after WEBHOOK_TIMEOUT (0.5 s)
    [lost] = deliverer.tick(minute_after(start) + timedelta(seconds=1))
    assert (lost.status, lost.attempts) == ("lost", 2) and "timed out" in (lost.error or "")
    [again] = deliverer.tick(minute_after(start, 2) + timedelta(seconds=1))
    assert again.status == "sent" and again.key == lost.key and again.window_end == lost.window_end
    keys = [r["headers"]["Idempotency-Key"] for r in receiver.requests]
    assert keys == [lost.key] * 3  # the receiver can drop the duplicates by key
    assert [d.status for d in deliveries(sub)] == ["lost", "sent"]


@pytest.mark.parametrize(("url", "settings", "says"), [
    ("http://example.com/hook", {"WEBHOOK_ALLOW_HTTP": False}, "starts with https://"),
    ("https://127.0.0.1/hook", {"WEBHOOK_ALLOW_PRIVATE": False}, "loopback, private or link-local"),
    ("https://169.254.169.254/latest/meta-data", {"WEBHOOK_ALLOW_PRIVATE": False}, "link-local"),
    ("https://10.1.2.3/hook", {"WEBHOOK_ALLOW_PRIVATE": False}, "private"),
    ("https://user:pw@example.com/hook", {}, "no user or password"),
    ("ftp://example.com/hook", {}, "starts with https://"),
    ("https://no-such-host.invalid/hook", {}, "cannot be resolved"),
])
def test_unsafe_or_unusable_webhook_urls_are_refused(app, url, settings, says):
    app.config.update(settings)
    with pytest.raises(SubscriptionError) as info:
        check_webhook_url(url)
    assert info.value.field == "webhook_url" and says in str(info.value)


def test_a_webhook_failing_until_paused_tells_its_owner_by_email_and_in_the_navbar(app, admin_user, receiver, smtp,
                                                                                   admin_client):
    app.config.update(DELIVERY_PAUSE_AFTER=2, DELIVERY_MAX_ATTEMPTS=1)
    sub, _ = subscribe(admin_user, email=False, webhook_url=receiver.url, send_empty=True)
    start = sub.webhook_cursor
    receiver.script.extend([(404, 0, {}), (404, 0, {})])
    deliverer.tick(minute_after(start) + timedelta(seconds=1))
    deliverer.tick(minute_after(start, 2) + timedelta(seconds=1))
    [told] = smtp.messages
    assert told["To"] == admin_user.email and f"Your subscription {sub.name} was paused" in told["Subject"]
    assert "HTTP 404" in told.get_content()
    assert "1 paused" in admin_client.get("/admin/").get_data(as_text=True)
