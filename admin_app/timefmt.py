"""Time at the edges: read user input in the display zone, show times with the zone named."""
from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app

from .types import UTC

_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


def display_zone() -> ZoneInfo:
    """The configured display time zone (APP_TIMEZONE)."""
    return ZoneInfo(current_app.config["APP_TIMEZONE"])


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
    """Midnight of ``day`` in ``zone``, as aware UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def format_local(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """Format an aware datetime in the display zone with the zone's abbreviation."""
    if value is None:
        return ""
    zone = zone or display_zone()
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")

