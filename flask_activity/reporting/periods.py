"""Report windows: named periods in a report's time zone, and file names for them."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..timefmt import parse_datetime, start_of_day
from .definition import ReportError

PERIODS = ("yesterday", "today", "last-7-days", "last-month")


def named_period(name: str, zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """[since, until) in UTC for a named period, whole days in ``zone``."""
    today = now.astimezone(zone).date()
    if name == "yesterday":
        return start_of_day(today - timedelta(days=1), zone), start_of_day(today, zone)
    if name == "today":
        return start_of_day(today, zone), start_of_day(today + timedelta(days=1), zone)
    if name == "last-7-days":
        return start_of_day(today - timedelta(days=7), zone), start_of_day(today, zone)
    if name == "last-month":
        first = today.replace(day=1)
        prev = (first - timedelta(days=1)).replace(day=1)
        return start_of_day(prev, zone), start_of_day(first, zone)
    raise ReportError(f"--period must be one of {', '.join(PERIODS)}, not {name!r}")


def window(since: str | None, until: str | None, period: str | None, default: str, zone: ZoneInfo,
           now: datetime) -> tuple[datetime, datetime]:
    """The run's window from --since/--until (read in ``zone``) or --period; raise ReportError."""
    if period and (since or until):
        raise ReportError("give either --period or --since/--until, not both")
    if since or until:
        if not (since and until):
            raise ReportError("give both --since and --until (or a --period)")
        try:
            start, end = parse_datetime(since, zone), parse_datetime(until, zone)
        except ValueError as exc:
            raise ReportError(f"bad date: {exc}") from None
        if start >= end:
            raise ReportError("--since must be earlier than --until")
        return start, end
    return named_period(period or default, zone, now)


def label(moment: datetime, zone: ZoneInfo) -> str:
    """A file-name-safe label: the local date at midnight, else local date and time.

    A wall time the autumn change repeats also names its offset (2026-10-25T0230+0200, then +0100), so
    two periods of a half-hourly schedule in that hour never share, and overwrite, one file.
    """
    local = moment.astimezone(zone)
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return local.strftime("%Y-%m-%dT%H%M%z")
    if local.time() == time(0):
        return local.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%dT%H%M")
