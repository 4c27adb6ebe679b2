"""Delivering subscriptions: the mechanism, taking ``now``. A delivery is a feed query from a stored cursor.

For each active subscription and channel: the window runs from the channel's cursor to the latest fire time at
least DELIVERY_SETTLE_SECONDS old (periods missed while nothing ran collapse into that one window). The window is
claimed by inserting its delivery row (a partial unique index lets one scheduler process have it), sent with
retries for transient failures, and recorded; the cursor moves to the window's end only when the send worked, in
the transaction that records it. A window that certainly did not arrive (refused, unreachable) is 'failed': the
next fire time sends a new window from the same cursor to the latest fire time (one catch-up after an outage).
A window whose outcome is unknown (the sender died before recording it, or the receiver never answered) is
'lost': it is sent again with the same key and end, so a receiver that has it can drop the duplicate.
At-least-once with a stable id, not exactly-once.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .. import signals
from ..activity import ActivityFilter
from ..state import db, state
from ..types import utcnow
from . import digest as digests
from .models import Delivery, Subscription
from .recovery import recover
from .retries import with_retries
from .senders import Outcome, post_webhook, send_email, sign
from .subscriptions import (
    SubscriptionError,
    check_webhook_url,
    load_owner,
    owner_email,
    set_paused,
    webhook_secret,
    window_filter,
)

log = logging.getLogger(__name__)

TEST_TIMEOUT = 5.0  # seconds a "Send a test" waits for a server: it runs in the web request
MAX_PERIODS = 100_000  # fire times counted in one catch-up window (every minute for ten weeks)


def _fires(sub: Subscription, after: datetime, until: datetime) -> tuple[datetime | None, int]:
    """The latest fire time in (after, until] and how many there were (capped at MAX_PERIODS)."""
    trigger = CronTrigger.from_crontab(sub.schedule, timezone=sub.timezone)
    last, n = None, 0
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    while fire is not None and fire <= until and n < MAX_PERIODS:
        last, n = fire, n + 1
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return last, n


def next_fire(sub: Subscription, now: datetime) -> datetime | None:
    trigger = CronTrigger.from_crontab(sub.schedule, timezone=sub.timezone)
    return trigger.get_next_fire_time(None, now)


def serve_tick(now: datetime) -> datetime | None:
    """The scheduler's wake-up: deliver what is due, then say when the next delivery is (for its sleep)."""
    tick(now)
    settle = timedelta(seconds=float(current_app.config["DELIVERY_SETTLE_SECONDS"]))
    subs = db.session.scalars(select(Subscription).where(Subscription.paused_at.is_(None))).all()
    nexts = [n + settle for n in (next_fire(s, now - settle) for s in subs if s.channels()) if n is not None]
    db.session.remove()
    return min(nexts, default=None)


def tick(now: datetime, sleep: Callable[[float], Any] = time.sleep) -> list[Delivery]:
    """Deliver every window due at ``now``; the deliveries this process made (sent or failed)."""
    recover()
    cache = digests.TickCache()
    done: list[Delivery] = []
    subs = db.session.scalars(select(Subscription).where(Subscription.paused_at.is_(None))
                              .order_by(Subscription.id)).all()
    for sub in subs:
        owner = load_owner(sub.owner_key)
        if owner is None or not state().can_read(owner):
            set_paused(sub, True, "its owner can no longer read the activity feed")
            continue
        for channel in sub.channels():
            delivery = deliver_due(sub, channel, owner, now, sleep, cache)
            if delivery is not None:
                done.append(delivery)
            if sub.paused_at is not None:
                break
    return done


def deliver_due(sub: Subscription, channel: str, owner: Any, now: datetime,
                sleep: Callable[[float], Any] = time.sleep, cache: digests.TickCache | None = None) -> Delivery | None:
    """Claim, send and record the window ``channel`` owes at ``now``, if any; None when nothing was due, the
    window was empty (the cursor just moves on), or another process claimed it."""
    settle = timedelta(seconds=float(current_app.config["DELIVERY_SETTLE_SECONDS"]))
    start = sub.cursor(channel)
    retry = db.session.scalar(select(Delivery).where(
        Delivery.subscription_id == sub.id, Delivery.channel == channel, Delivery.window_start == start,
        Delivery.status.in_(("failed", "lost")), Delivery.test.is_(False)).order_by(Delivery.id.desc()).limit(1))
    if retry is not None and retry.status != "lost":
        retry = None  # it never arrived: a fresh window from the same cursor covers it and what came since
    end, periods = _fires(sub, start, now - settle)
    if end is None:
        return None
    key = uuid.uuid4().hex
    if retry is not None:  # the same window and id as the attempt whose outcome is unknown
        end, periods, key = retry.window_end, retry.periods, retry.key
    flt = window_filter(sub, start, end)
    if retry is None and not sub.send_empty and not digests.has_events(flt, cache):
        _advance(sub, channel, start, end, failures=None)
        return None
    delivery = _claim(sub, channel, owner, start, end, periods, key)
    if delivery is None:
        return None
    return send(delivery, sub, owner, flt, sleep, cache=cache)


def send_test(sub: Subscription, channel: str, owner: Any, now: datetime,
              sleep: Callable[[float], Any] = time.sleep) -> Delivery:
    """Send the last day's events on ``channel`` now, marked as a test; no cursor moves, no claim is taken."""
    start = now - timedelta(days=1)
    delivery = Delivery(subscription_id=sub.id, channel=channel, key=uuid.uuid4().hex,
                        target=_target(sub, channel, owner), window_start=start, window_end=now, test=True,
                        status="testing", host=socket.gethostname(), pid=os.getpid())
    db.session.add(delivery)
    db.session.commit()
    flt = window_filter(sub, start, now)
    return send(delivery, sub, owner, flt, sleep, attempts=1, timeout=TEST_TIMEOUT)


def _target(sub: Subscription, channel: str, owner: Any) -> str:
    if channel == "email":
        address = owner_email(owner)
        if address is None:
            raise SubscriptionError("email", "the owner has no email address to send to")
        return address
    return sub.webhook_url or ""


def _claim(sub: Subscription, channel: str, owner: Any, start: datetime, end: datetime, periods: int,
           key: str) -> Delivery | None:
    try:
        target = _target(sub, channel, owner)
    except SubscriptionError as exc:
        target = "(none)"
        delivery = Delivery(subscription_id=sub.id, channel=channel, key=key, target=target, window_start=start,
                            window_end=end, periods=periods, status="failed", error=str(exc), finished_at=utcnow())
        db.session.add(delivery)
        db.session.commit()
        _failed(sub, delivery, str(exc))
        return None
    delivery = Delivery(subscription_id=sub.id, channel=channel, key=key, target=target, window_start=start,
                        window_end=end, periods=periods, status="sending", host=socket.gethostname(), pid=os.getpid())
    db.session.add(delivery)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None  # another scheduler process has this window
    return delivery


def send(delivery: Delivery, sub: Subscription, owner: Any, flt: ActivityFilter,
         sleep: Callable[[float], Any] = time.sleep, attempts: int | None = None,
         timeout: float | None = None, cache: digests.TickCache | None = None) -> Delivery:
    """Build the delivery's message, send it (with_retries) and record how it ended."""
    config = current_app.config
    digest = digests.gather(sub, delivery, flt, cache)
    if delivery.channel == "email":
        message = digests.email_message(digest, config["MAIL_FROM"], delivery.target)

        def once() -> Outcome:
            return send_email(message, timeout)
    else:
        body = digests.webhook_body(digest)

        def once() -> Outcome:
            try:
                check_webhook_url(delivery.target)  # again: what the name resolves to may have changed
            except SubscriptionError as exc:
                return Outcome(False, None, str(exc), False)
            headers = {"Idempotency-Key": delivery.key, "X-Signature": sign(webhook_secret(sub), int(time.time()),
                                                                            body)}
            return post_webhook(delivery.target, body, headers, timeout)

    outcome, tried = with_retries(once, sleep, attempts)
    return record(delivery, sub, outcome, tried, digest.total)


def record(delivery: Delivery, sub: Subscription, outcome: Outcome, tried: list[dict[str, Any]],
           events: int) -> Delivery:
    """Record the outcome; a sent (non-test) delivery moves its channel's cursor in the same transaction."""
    delivery.attempts, delivery.details, delivery.events = len(tried), tried, events
    delivery.code, delivery.error, delivery.response_ms = outcome.code, outcome.error, outcome.ms
    delivery.finished_at = utcnow()
    if delivery.test:
        delivery.status = "tested" if outcome.ok else "test-failed"
        db.session.commit()
    elif outcome.ok:
        delivery.status = "sent"
        _advance(sub, delivery.channel, delivery.window_start, delivery.window_end, failures=0)
    else:
        delivery.status = "lost" if outcome.unsure else "failed"
        db.session.commit()
        _failed(sub, delivery, outcome.error or "not delivered")
    _announce(delivery)
    return delivery


def _advance(sub: Subscription, channel: str, start: datetime, end: datetime, failures: int | None) -> None:
    """Move the channel's cursor from ``start`` to ``end`` (only if it is still at ``start``) and commit."""
    column = Subscription.email_cursor if channel == "email" else Subscription.webhook_cursor
    values: dict[Any, Any] = {column: end}
    if failures is not None:
        values[Subscription.failures] = failures
    db.session.execute(update(Subscription).where(Subscription.id == sub.id, column == start).values(values))
    db.session.commit()
    db.session.refresh(sub)


def _failed(sub: Subscription, delivery: Delivery, reason: str) -> None:
    """Count a failed delivery; DELIVERY_PAUSE_AFTER in a row pause the subscription with the reason."""
    db.session.execute(update(Subscription).where(Subscription.id == sub.id)
                       .values(failures=Subscription.failures + 1))
    db.session.commit()
    db.session.refresh(sub)
    limit = int(current_app.config["DELIVERY_PAUSE_AFTER"])
    if sub.failures >= limit:
        set_paused(sub, True, f"paused after {sub.failures} failed deliveries in a row; the last, by "
                              f"{delivery.channel} to {delivery.target}: {reason}")
        log.warning("subscription %s paused: %s", sub.id, sub.paused_reason)
        if delivery.channel != "email":
            _tell_owner(sub)


def _tell_owner(sub: Subscription) -> None:
    """Email the owner that their subscription was paused, when the failing channel was not email itself (the
    subscriptions page and the navbar say it in the app)."""
    owner = load_owner(sub.owner_key)
    address = owner_email(owner) if owner is not None else None
    if address is None or not current_app.config["SMTP_URL"]:
        return
    message = EmailMessage()
    app_name = current_app.config.get("APP_NAME") or "Activity"
    message["Subject"] = f"[{app_name}] Your subscription {sub.name} was paused"
    message["From"], message["To"] = current_app.config["MAIL_FROM"], address
    message.set_content(f"{sub.paused_reason}.\n\nResume it on {digests.base_url()}/admin/subscriptions/ once the "
                        "receiver works again; the next delivery then covers everything since the last one.\n")
    outcome = send_email(message)
    if not outcome.ok:
        log.warning("could not tell the owner of subscription %s: %s", sub.id, outcome.error)


def _announce(delivery: Delivery) -> None:
    signal = signals.delivery_sent if delivery.status in ("sent", "tested") else signals.delivery_failed
    if signal.receivers:
        lag = None if delivery.test or delivery.finished_at is None else \
            (delivery.finished_at - delivery.window_end).total_seconds()
        signals.send(signal, delivery=delivery, channel=delivery.channel, status=delivery.status,
                     events=delivery.events, attempts=delivery.attempts, lag=lag)
