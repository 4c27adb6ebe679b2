"""When reports are due. Cron expressions are evaluated in each report's own time zone."""
from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from .definition import ReportDefinition


def trigger(defn: ReportDefinition) -> CronTrigger:
    return CronTrigger.from_crontab(defn.schedule, timezone=defn.zone)  # type: ignore[arg-type]


def next_fire_time(defn: ReportDefinition, now: datetime) -> datetime | None:
    """The next time the report's schedule fires after ``now`` (None when it has no schedule)."""
    if not defn.schedule:
        return None
    return trigger(defn).get_next_fire_time(None, now)
