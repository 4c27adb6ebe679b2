"""Subscriptions as data: what a person may save (a feed filter, a cadence, channels) and the one place that checks
it, for the admin form and the CLI alike. Bad input raises SubscriptionError naming the field and the fix."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from flask import current_app
from sqlalchemy import select

from ..activity import ActivityFilter, BadActivityQuery, parse_filter, parse_id
from ..state import db, state
from ..timefmt import describe_cron
from ..types import utcnow
from .models import Subscription

CADENCES = ("live", "hourly", "daily", "weekly", "cron")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SubscriptionError(ValueError):
    """Input that cannot make a subscription; ``field`` names the form field, the message says what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class SubscriptionInput:
    """What a person typed or chose; ``filters`` are the feed's own arguments (model, action, actor)."""

    name: str
    filters: Mapping[str, Any] = field(default_factory=dict)
    cadence: str = "hourly"
    at: str = "08:00"  # daily and weekly
    weekday: str = "mon"  # weekly
    cron: str = ""  # cadence "cron"
    timezone: str = "UTC"
    email: bool = False
    webhook_url: str = ""
    in_app: bool = True
    send_empty: bool = False


def cadence_cron(cadence: str, at: str = "08:00", weekday: str = "mon", cron: str = "") -> str:
    """The cron expression of a cadence: live (every minute), hourly, daily or weekly at a time, or a cron."""
    if cadence not in CADENCES:
        raise SubscriptionError("cadence", f"choose one of {', '.join(CADENCES)}, not {cadence!r}")
    if cadence == "live":
        return "* * * * *"
    if cadence == "hourly":
        return "0 * * * *"
    if cadence == "cron":
        expression = " ".join(cron.split())
        if len(expression.split(" ")) != 5:
            raise SubscriptionError("cron", "a cron expression has 5 fields: minute hour day month weekday "
                                            "(for example '15 8 * * mon-fri')")
        check_cron(expression, "UTC")
        return expression
    found = _TIME.match(at.strip())
    if not found:
        raise SubscriptionError("at", f"a time of day as HH:MM (24-hour), not {at!r}")
    hour, minute = int(found.group(1)), int(found.group(2))
    if cadence == "daily":
        return f"{minute} {hour} * * *"
    if weekday not in WEEKDAYS:
        raise SubscriptionError("weekday", f"choose one of {', '.join(WEEKDAYS)}, not {weekday!r}")
    return f"{minute} {hour} * * {weekday}"


def describe_cadence(schedule: str, zone: str) -> str:
    """The schedule in words where it is one of the presets; else the cron expression itself."""
    if schedule == "* * * * *":
        return "as it happens (every minute)"
    if schedule == "0 * * * *":
        return "hourly"
    parts = schedule.split(" ")
    if len(parts) == 5 and parts[0].isdigit() and parts[1].isdigit() and parts[2:4] == ["*", "*"]:
        at = f"{int(parts[1]):02d}:{int(parts[0]):02d} ({zone})"
        if parts[4] == "*":
            return f"daily at {at}"
        if parts[4] in WEEKDAYS:
            return f"weekly on {parts[4]} at {at}"
    return describe_cron(schedule, zone)


def check_cron(expression: str, zone: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(expression, timezone=zone)
    except (ValueError, KeyError) as exc:
        raise SubscriptionError("cron", f"the cron expression {expression!r} cannot be read: {exc}") from None


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SubscriptionError("timezone", f"unknown time zone {name!r}; use an IANA name such as "
                                            "Europe/Berlin") from None
    return name


def check_filters(args: Mapping[str, Any], zone: str) -> dict[str, Any]:
    """The feed arguments a subscription keeps: model, action and actor (a window is the delivery's own)."""
    kept = {k: args[k] for k in ("model", "action", "actor") if args.get(k)}
    try:
        flt = parse_filter(kept, ZoneInfo(zone))
    except BadActivityQuery as exc:
        text = str(exc)
        name = next((f for f in ("model", "action", "actor") if text.startswith((f, f"unknown {f}"))), "filters")
        raise SubscriptionError(name, text) from None
    return stored_filters(flt)


def stored_filters(flt: ActivityFilter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if flt.models:
        out["model"] = list(flt.models)
    if flt.actions:
        out["action"] = list(flt.actions)
    if flt.system_actor:
        out["actor"] = "system"
    elif flt.actor_id is not None:
        out["actor"] = str(flt.actor_id)
    return out


def window_filter(sub: Subscription, since: datetime, until: datetime) -> ActivityFilter:
    """The feed filter of one delivery: the subscription's filters over [since, until)."""
    flt = parse_filter(sub.filters or {}, ZoneInfo(sub.timezone))
    return ActivityFilter(since, until, flt.models, flt.actions, flt.actor_id, flt.system_actor)


def check_webhook_url(url: str) -> str:
    """https (http with WEBHOOK_ALLOW_HTTP), a host that resolves, and no loopback, private, link-local or
    metadata address unless WEBHOOK_ALLOW_PRIVATE. Checked on saving and again before every send."""
    config = current_app.config
    url = url.strip()
    parts = urlsplit(url)
    allowed = ("https", "http") if config["WEBHOOK_ALLOW_HTTP"] else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise SubscriptionError("webhook_url", "a webhook URL starts with https:// and names a host"
                                + ("" if config["WEBHOOK_ALLOW_HTTP"] else " (http:// needs WEBHOOK_ALLOW_HTTP)"))
    if len(url) > 2000 or parts.username or parts.password:
        raise SubscriptionError("webhook_url", "a webhook URL has no user or password in it and is at most "
                                               "2000 characters")
    try:
        port = parts.port
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise SubscriptionError("webhook_url", f"the host {parts.hostname!r} cannot be resolved ({exc})") from None
    if not config["WEBHOOK_ALLOW_PRIVATE"]:
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if (address.is_loopback or address.is_private or address.is_link_local or address.is_reserved
                    or address.is_multicast or address.is_unspecified):
                raise SubscriptionError("webhook_url", f"{parts.hostname} resolves to {address}, a loopback, private "
                                                       "or link-local address (WEBHOOK_ALLOW_PRIVATE allows it)")
    return url


def owner_email(owner: Any) -> str | None:
    """The owner's email address if the host's user model has one."""
    value = getattr(owner, "email", None)
    return value if isinstance(value, str) and _EMAIL.match(value) else None


def webhook_secret(sub: Subscription) -> str:
    """The subscription's signing secret (derived_secret of its salt)."""
    return derived_secret(sub.webhook_salt or "")


def derived_secret(salt: str) -> str:
    """A webhook signing secret derived from SECRET_KEY and a stored salt, so the database alone does not hold it
    (a new SECRET_KEY changes every secret)."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return "whsec_" + hmac.new(key, f"flask-activity-webhook:{salt}".encode(), hashlib.sha256).hexdigest()


def check_email(address: str, field: str = "emails") -> str:
    """An address as typed, or SubscriptionError naming ``field``."""
    address = address.strip()
    if not _EMAIL.match(address) or len(address) > 320:
        raise SubscriptionError(field, f"{address!r} is not an email address (name@example.com)")
    return address


def load_owner(key: str) -> Any:
    """The host's user a subscription belongs to, or None."""
    st = state()
    value = parse_id(key) if st.user_key.type.python_type is int else st.parse_actor_key(key)
    if value is None:
        return None
    return db.session.scalar(select(st.user_model).where(st.user_key == value))


def save(owner: Any, given: SubscriptionInput, sub: Subscription | None = None) -> tuple[Subscription, str | None]:
    """Check ``given`` and store it as ``owner``'s subscription (new, or ``sub`` changed).

    Returns the subscription and, when a webhook was added or its URL changed, its signing secret: shown once.
    """
    name = given.name.strip()
    if not name or len(name) > 200:
        raise SubscriptionError("name", "a name of 1 to 200 characters")
    zone = check_zone(given.timezone.strip() or "UTC")
    schedule = cadence_cron(given.cadence, given.at, given.weekday, given.cron)
    check_cron(schedule, zone)
    filters = check_filters(given.filters, zone)
    url = given.webhook_url.strip()
    if url:
        url = check_webhook_url(url)
    if given.email:
        if owner_email(owner) is None:
            raise SubscriptionError("email", "your account has no email address to send to")
        if not current_app.config["SMTP_URL"]:
            raise SubscriptionError("email", "email is not set up on this server: set SMTP_URL (and MAIL_FROM)")
    if not (given.email or url or given.in_app):
        raise SubscriptionError("channels", "choose at least one channel: email, a webhook or in the app")
    now = utcnow()
    if sub is None:
        sub = Subscription(owner_key=str(owner.get_id()), email_cursor=now, webhook_cursor=now, seen_cursor=now,
                           created_at=now)
        db.session.add(sub)
    new_receiver = bool(url) and url != sub.webhook_url
    if new_receiver:
        sub.webhook_salt = secrets.token_hex(16)
        sub.webhook_cursor = now  # a new receiver starts from now, not from the old one's backlog
    sub.name, sub.filters, sub.schedule, sub.timezone = name, filters, schedule, zone
    sub.email, sub.webhook_url, sub.in_app, sub.send_empty = given.email, url or None, given.in_app, given.send_empty
    db.session.commit()
    return sub, webhook_secret(sub) if new_receiver else None


def set_paused(sub: Subscription, paused: bool, reason: str | None = None) -> None:
    """Pause (with the reason) or resume; resuming starts a fresh count of failures."""
    sub.paused_at, sub.paused_reason = (utcnow(), reason or "paused by its owner") if paused else (None, None)
    if not paused:
        sub.failures = 0
    db.session.commit()
