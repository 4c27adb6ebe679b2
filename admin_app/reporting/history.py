"""Report runs as the admin (and anything else) reads them: history, latest run per report, report files.

Queries only; no request handling. Every query orders by ``started_at`` then ``id`` (newest first), which the
``ix_report_runs_report_started`` index serves per report.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from ..extensions import db
from ..models import ReportRun
from .definition import ReportDefinition
from .scheduler import next_fire_time

HISTORY_LIMIT = 100
NEWEST_FIRST = (ReportRun.started_at.desc(), ReportRun.id.desc())


def run_history(report: str | None = None, limit: int = HISTORY_LIMIT) -> list[ReportRun]:
    """The latest ``limit`` runs, newest first; only ``report``'s when given."""
    stmt = select(ReportRun).order_by(*NEWEST_FIRST).limit(limit)
    if report:
        stmt = stmt.where(ReportRun.report == report)
    return list(db.session.scalars(stmt))


def get_run(run_id: int) -> ReportRun | None:
    return db.session.get(ReportRun, run_id)


def latest_runs(names: Iterable[str]) -> dict[str, ReportRun]:
    """The newest run of each named report (reports never run are absent); one query, one index probe per name."""
    latest_ids = [
        select(ReportRun.id).where(ReportRun.report == name).order_by(*NEWEST_FIRST).limit(1).scalar_subquery()
        for name in names
    ]
    if not latest_ids:
        return {}
    runs = db.session.scalars(select(ReportRun).where(ReportRun.id.in_(latest_ids)))
    return {run.report: run for run in runs}


def latest_failures(names: Iterable[str]) -> list[ReportRun]:
    """The reports whose newest run failed, as those runs, most recent first."""
    failed = [run for run in latest_runs(names).values() if run.status == "failed"]
    return sorted(failed, key=lambda run: (run.finished_at or run.started_at, run.id), reverse=True)


@dataclass(frozen=True)
class ReportSummary:
    """One definition with what the Reports page shows next to it."""

    definition: ReportDefinition
    next_run: datetime | None
    last_run: ReportRun | None


def summaries(definitions: Mapping[str, ReportDefinition], now: datetime) -> list[ReportSummary]:
    """Every definition, in definition order, with its next scheduled time and its latest run."""
    latest = latest_runs(definitions)
    return [ReportSummary(d, next_fire_time(d, now), latest.get(name)) for name, d in definitions.items()]


def report_file(run: ReportRun, root: str | Path) -> Path | None:
    """The file of a succeeded run, only if it exists inside ``root`` (REPORTS_DIR); None otherwise.

    ``run.path`` is relative to ``root``. After resolving (``..`` and symbolic links), a path that is
    absolute, escapes ``root`` or names no regular file is refused.
    """
    if run.status != "succeeded" or not run.path:
        return None
    try:
        base = Path(root).resolve()
        target = (base / run.path).resolve()
    except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops
        return None
    if target == base or not target.is_relative_to(base) or not target.is_file():
        return None
    return target
