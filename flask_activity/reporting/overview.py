"""What the Reports page shows next to each definition: when it runs next and how its latest run went."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask_activity.reporting.models import ReportRun

from .definition import ReportDefinition
from .runs import latest_runs
from .scheduler import next_fire_time


@dataclass(frozen=True)
class ReportSummary:
    """One definition with its next scheduled time and its latest run."""

    definition: ReportDefinition
    next_run: datetime | None
    last_run: ReportRun | None


def summaries(definitions: Mapping[str, ReportDefinition], now: datetime) -> list[ReportSummary]:
    """Every definition, in definition order, with its next scheduled time and its latest run."""
    latest = latest_runs(definitions)
    return [ReportSummary(d, next_fire_time(d, now), latest.get(name)) for name, d in definitions.items()]
