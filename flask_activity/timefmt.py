"""Time at the edges: read user input in the display zone, show times with the zone named."""
from __future__ import annotations

import functools
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app, has_request_context
from flask_login import current_user

from .types import UTC

_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


# Offered first on the display settings page; any other IANA zone can be chosen too.
COMMON_ZONES = ("UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York", "America/Chicago",
                "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Shanghai",
                "Asia/Tokyo", "Australia/Sydney")


def app_zone() -> ZoneInfo:
    """The app-wide zone (APP_TIMEZONE): for everything that is not one user's display."""
    return ZoneInfo(current_app.config["APP_TIMEZONE"])


def display_zone() -> ZoneInfo:
    """The zone times are shown in and typed dates are read in: the logged-in user's own (``User.timezone``),
    else APP_TIMEZONE.

    Outside a request (CLI, scheduler, report runs) there is no user, so it is always APP_TIMEZONE. A stored
    name this host's tz database does not know (tzdata changed) falls back to APP_TIMEZONE rather than fail.
    """
    if has_request_context():
        name = getattr(current_user, "timezone", None)  # anonymous users have none
        if name:
            zone = _zone(name)
            if zone is not None:
                return zone
    return app_zone()


@functools.lru_cache(maxsize=128)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of the tz database, e.g. "Europe"
        return None


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone a user may choose, sorted (read once: listing the tz database takes ~50 ms).

    "localtime" is the host's own zone file, not an IANA name: what it means changes with the server.
    """
    return tuple(sorted(available_timezones() - {"localtime"}))


def parse_zone_choice(text: str) -> str | None:
    """A display zone chosen by a user: an IANA name, or "" for the app default (None).

    Raises ValueError saying what to choose.
    """
    text = text.strip()
    if not text:
        return None
    if text not in zone_names():
        shown = text if len(text) <= 64 else text[:64] + "..."
        raise ValueError(f"{shown!r} is not a time zone; choose an IANA name such as 'Europe/Berlin' or "
                         "'America/New_York', or the app default")
    return text


def parse_datetime(text: str, zone: ZoneInfo) -> datetime:
    """Parse a date or date-time typed by a user; no offset means ``zone``. Returns aware UTC.

    Raises ValueError with a message that says what format is expected.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty date")
    value: datetime | None = None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        for fmt in _FORMATS:
            try:
                value = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if value is None:
        raise ValueError(f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS], optionally with an offset")
    if not 1900 <= value.year <= 9998:
        raise ValueError(f"{text!r} is out of range; use a year from 1900 to 9998")
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone``, as aware UTC: the one rule for "midnight in a zone".

    Day windows (the dashboard chart, report periods, daily counts) all start here, so they agree. Where a
    zone skips midnight (a DST change at 00:00, e.g. America/Santiago), the day starts when its clocks do
    (01:00 local): zoneinfo reads the missing 00:00 with the offset in force before the change.
    """
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def format_local(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """Format an aware datetime in the display zone with the zone's abbreviation."""
    if value is None:
        return ""
    zone = zone or display_zone()
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")



def describe_cron(expression: str, zone: str) -> str:
    """A cron expression in words with its zone, e.g. 'At 00:15, every day (UTC)' (cron-descriptor, 24-hour)."""
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options()
    options.use_24hour_time_format = True
    try:
        words = str(ExpressionDescriptor(expression, options).get_description())
    except Exception:  # noqa: BLE001 - the library raises several kinds; the expression itself is then the words
        return f"cron {expression} ({zone})"
    fields = expression.split()
    if len(fields) == 5 and fields[2:] == ["*", "*", "*"] and words.startswith("At "):
        words += ", every day"
    return f"{words} ({zone})"
