"""What one delivery says: the window's events (newest first, the first DIGEST_MAX_EVENTS of them, all of them as a
formula-safe CSV attachment beyond that), as an email with text and HTML parts or as a webhook's JSON body."""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from itsdangerous import URLSafeSerializer
from markupsafe import Markup

from ..activity import EVENT_COLUMNS, ActivityFilter, Event, count_events, fetch_page, filter_args, iter_event_csv
from ..activity.events import event_columns
from ..timefmt import format_local
from .models import Delivery, Subscription
from .subscriptions import describe_cadence


@dataclass
class Digest:
    """A window's events as a delivery shows them."""

    subscription: Subscription
    delivery: Delivery
    filters: ActivityFilter
    events: list[Event]  # the first DIGEST_MAX_EVENTS, newest first
    total: int
    feed_url: str
    cache: TickCache | None = None

    @property
    def truncated(self) -> bool:
        return self.total > len(self.events)


class TickCache:
    """What one scheduler tick already read: subscriptions sharing filters and a window (most do, at the top of the
    hour) share one count, one page and one CSV. Read within one tick only, so it is never stale."""

    def __init__(self) -> None:
        self.pages: dict[ActivityFilter, tuple[int, list[Event]]] = {}
        self.csv: dict[ActivityFilter, tuple[bytes, str]] = {}
        self.lines: dict[tuple[ActivityFilter, str], tuple[str, Markup]] = {}  # the event lines, text and HTML


def gather(sub: Subscription, delivery: Delivery, flt: ActivityFilter, cache: TickCache | None = None) -> Digest:
    """The window's count (one round trip) and its first DIGEST_MAX_EVENTS events (one page query)."""
    found = cache.pages.get(flt) if cache is not None else None
    if found is None:
        cap = int(current_app.config["DIGEST_MAX_EVENTS"])
        total = sum(count_events(flt).values())
        found = (total, fetch_page(flt, min(cap, 1000)).events if total else [])
        if cache is not None:
            cache.pages[flt] = found
    total, events = found
    return Digest(sub, delivery, flt, events, total, feed_url(flt), cache)


def has_events(flt: ActivityFilter, cache: TickCache | None = None) -> bool:
    """Whether the window holds any event (one indexed row read, or what this tick already counted)."""
    if cache is not None and flt in cache.pages:
        return cache.pages[flt][0] > 0
    return bool(fetch_page(flt, 1).events)


def base_url() -> str:
    return str(current_app.config["ACTIVITY_BASE_URL"]).rstrip("/")


def feed_url(flt: ActivityFilter) -> str:
    """The activity feed with the same filters and window."""
    return f"{base_url()}/admin/activity/?{urlencode(filter_args(flt), doseq=True)}"


def unsubscribe_token(sub_id: int, channel: str) -> str:
    return str(URLSafeSerializer(current_app.config["SECRET_KEY"], salt="activity-unsubscribe")
               .dumps([sub_id, channel]))


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    from itsdangerous import BadSignature

    try:
        sub_id, channel = URLSafeSerializer(current_app.config["SECRET_KEY"], salt="activity-unsubscribe").loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    return (sub_id, channel) if isinstance(sub_id, int) and channel in ("email", "webhook") else None


def csv_attachment(flt: ActivityFilter, cache: TickCache | None = None) -> tuple[bytes, str]:
    """Every event of the window as CSV (the shared formula-safe writer), gzipped over DIGEST_GZIP_OVER bytes."""
    if cache is not None and flt in cache.csv:
        return cache.csv[flt]
    made = _csv(flt)
    if cache is not None:
        cache.csv[flt] = made
    return made


def _csv(flt: ActivityFilter) -> tuple[bytes, str]:
    data = (",".join(event_columns()) + "\r\n" + "".join(chunk.text for chunk in iter_event_csv(flt))).encode()
    if len(data) > int(current_app.config["DIGEST_GZIP_OVER"]):
        return gzip.compress(data), "events.csv.gz"
    return data, "events.csv"


def _context(digest: Digest, zone: ZoneInfo) -> dict[str, Any]:
    sub = digest.subscription
    return {"digest": digest, "sub": sub, "zone": zone, "app_name": current_app.config.get("APP_NAME") or
            "Activity", "since": format_local(digest.filters.since, zone),
            "until": format_local(digest.filters.until, zone), "cadence": describe_cadence(sub.schedule, sub.timezone),
            "fmt": lambda value: format_local(value, zone), "periods": digest.delivery.periods,
            "unsubscribe": f"{base_url()}/activity/unsubscribe/{unsubscribe_token(sub.id, 'email')}"}


def email_message(digest: Digest, sender: str, recipient: str) -> EmailMessage:
    """The digest as an email: plain text and HTML, Message-ID from the delivery's stable key, one-click
    List-Unsubscribe, and the CSV of every event when there are more than the body shows."""
    zone = ZoneInfo(digest.subscription.timezone)
    context = _context(digest, zone)
    message = EmailMessage()
    count = f"{digest.total} new event{'s' if digest.total != 1 else ''}"
    message["Subject"] = f"[{context['app_name']}] {digest.subscription.name}: {count}"
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{digest.delivery.key}@{_domain(sender)}>"
    message["List-Unsubscribe"] = f"<{context['unsubscribe']}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["X-Delivery-Id"] = digest.delivery.key
    text, rows = event_lines(digest, zone, context)
    message.set_content(render_template("activity/email/digest.txt", events_block=text, **context))
    message.add_alternative(render_template("activity/email/digest.html", events_block=rows, **context),
                            subtype="html")
    if digest.truncated:
        data, name = csv_attachment(digest.filters, digest.cache)
        maintype, subtype = ("application", "gzip") if name.endswith(".gz") else ("text", "csv")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def event_lines(digest: Digest, zone: ZoneInfo, context: dict[str, Any]) -> tuple[str, Markup]:
    """The digest's event lines as text and as HTML table rows: rendered once per filters, window and zone in a
    tick (most subscriptions at the top of the hour share them), the rest of each email per recipient."""
    key = (digest.filters, zone.key)
    cache = digest.cache
    if cache is not None and key in cache.lines:
        return cache.lines[key]
    rows = render_template("activity/email/_events.html", **context)
    made = (render_template("activity/email/_events.txt", **context),
            Markup(rows))  # nosec B704 - an .html template: Jinja escaped every value in it
    if cache is not None:
        cache.lines[key] = made
    return made


def webhook_body(digest: Digest) -> bytes:
    """The digest as JSON: the delivery's id, the window, the count and the events shown (``truncated`` with the
    feed link when there are more)."""
    sub, delivery = digest.subscription, digest.delivery
    body = {"id": delivery.key, "subscription": {"id": sub.id, "name": sub.name},
            "window": {"since": _iso(digest.filters.since), "until": _iso(digest.filters.until)},
            "periods": delivery.periods, "count": digest.total, "truncated": digest.truncated,
            "feed_url": digest.feed_url, "columns": list(EVENT_COLUMNS), "test": delivery.test,
            "events": [event.to_json() for event in digest.events]}
    return json.dumps(body, separators=(",", ":")).encode()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip("> ") or "localhost"
