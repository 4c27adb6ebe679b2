"""Report run rows: every query on ReportRun and every change of a run's status (started, succeeded, failed,
missed, left running by a dead process), with the signals that announce them.

Reads order by ``started_at`` then ``id`` (newest first), which the ``ix_report_runs_report_started`` index serves
per report. A status change is its own committed transaction.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from flask_activity.reporting.models import ReportRun

from .. import signals
from ..state import db
from ..types import utcnow
from .definition import ReportError

HISTORY_LIMIT = 100
ERROR_MAX = 4000  # characters of an error message kept on the run
UNFINISHED = ("queued", "running")  # a Run now waits 'queued' for its background worker
NEWEST_FIRST = (ReportRun.started_at.desc(), ReportRun.id.desc())


# --- status changes --------------------------------------------------------------------------------------------


def start(report: str, since: datetime, until: datetime, params: dict[str, Any],
          scheduled_for: datetime | None = None) -> ReportRun:
    """Record a run as started ('running', with this host and pid)."""
    run = ReportRun(report=report, params=params, period_start=since, period_end=until,
                    scheduled_for=scheduled_for, status="running", host=socket.gethostname(), pid=os.getpid())
    db.session.add(run)
    db.session.commit()
    if signals.report_started.receivers:
        signals.send(signals.report_started, run=run, report=report)
    return run


def queue(report: str, since: datetime, until: datetime, params: dict[str, Any]) -> ReportRun:
    """Record a Run now as 'queued' by this process (host and pid), for its background worker to start."""
    run = ReportRun(report=report, params=params, period_start=since, period_end=until, status="queued",
                    host=socket.gethostname(), pid=os.getpid())
    db.session.add(run)
    db.session.commit()
    return run


def begin_queued(run_id: int) -> ReportRun | None:
    """Move a queued run to 'running' (compare-and-set on its status); None when it is no longer queued."""
    claimed = db.session.execute(update(ReportRun).where(ReportRun.id == run_id, ReportRun.status == "queued")
                                 .values(status="running", started_at=utcnow(), pid=os.getpid(),
                                         host=socket.gethostname())).rowcount
    db.session.commit()
    run = db.session.get(ReportRun, run_id) if claimed else None
    if run is not None:
        db.session.refresh(run)
        if signals.report_started.receivers:
            signals.send(signals.report_started, run=run, report=run.report)
    return run


def claim(report: str, params: dict[str, Any], since: datetime, until: datetime, fire: datetime,
          missed: str | None = None) -> ReportRun | None:
    """Insert a scheduled period's run row ('running', or 'missed' with the reason); None if another scheduler
    process has it (the partial unique index on (report, period_start) of scheduled runs lets one insert)."""
    try:
        if not missed:
            return start(report, since, until, params, scheduled_for=fire)
        run = ReportRun(report=report, params=params, period_start=since, period_end=until, scheduled_for=fire,
                        status="missed", error=missed, finished_at=utcnow())
        db.session.add(run)
        db.session.commit()
        return run
    except IntegrityError:
        db.session.rollback()
        return None


def succeed(run: ReportRun, rows: int, size: int, sha256: str, path: str | None, lag_s: float | None,
            duration_ms: int) -> ReportRun:
    """Record a run's file as in place: rows, bytes, hash, path (None: sent to standard output, not kept),
    replica lag."""
    run.status, run.rows, run.bytes, run.sha256, run.path = "succeeded", rows, size, sha256, path
    run.source_lag_ms = None if lag_s is None else int(lag_s * 1000)
    run.finished_at = utcnow()
    run.duration_ms = duration_ms
    db.session.commit()
    if signals.report_finished.receivers:
        signals.send(signals.report_finished, run=run, report=run.report, rows=rows, bytes=size,
                     duration=duration_ms / 1000)
    return run


def fail(run: ReportRun, message: str, duration_ms: int) -> ReportRun:
    """Record a run as failed with ``message``, after rolling back whatever the failure left in the session."""
    db.session.rollback()
    run.status, run.error = "failed", message[:ERROR_MAX]
    run.finished_at = utcnow()
    run.duration_ms = duration_ms
    db.session.commit()
    _announce_failed([(run, duration_ms / 1000)])
    return run


def describe(exc: BaseException) -> str:
    """The message recorded for a failed run: ours as is, a database error as its first line, else type and text."""
    if isinstance(exc, ReportError):
        return str(exc)
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        return f"database error: {first}"
    return f"{type(exc).__name__}: {exc}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale_runs(now: datetime | None = None) -> list[ReportRun]:
    """Mark failed the runs left 'running' by a dead process (same host) or older than REPORT_RUN_TIMEOUT."""
    now = now or utcnow()
    timeout = timedelta(seconds=current_app.config["REPORT_RUN_TIMEOUT"])
    host = socket.gethostname()
    stale: list[tuple[ReportRun, str]] = []
    for run in db.session.scalars(select(ReportRun).where(ReportRun.status.in_(UNFINISHED))):
        if run.host == host and run.pid and run.pid != os.getpid() and not process_alive(run.pid):
            stale.append((run, f"the server or command running it stopped before it finished (pid {run.pid} "
                               "is gone)"))
        elif run.started_at < now - timeout:
            stale.append((run, f"still running after {timeout}; marked failed"))
    return _fail_left_running(stale, now)


def fail_unrecorded_runs(reason: str, now: datetime | None = None) -> list[ReportRun]:
    """Mark failed this process's runs left 'running' because their outcome could not be written.

    For a process that runs one report at a time (the scheduler) and has none in progress: a run whose last
    commit met a database outage is still 'running' under a live pid, which fail_stale_runs leaves alone.
    """
    now = now or utcnow()
    mine = db.session.scalars(select(ReportRun).where(
        ReportRun.status == "running", ReportRun.host == socket.gethostname(), ReportRun.pid == os.getpid()))
    return _fail_left_running([(run, f"the outcome of the run could not be recorded: {reason}") for run in mine],
                              now)


def _fail_left_running(found: list[tuple[ReportRun, str]], now: datetime) -> list[ReportRun]:
    """Commit each run as failed with its reason, then announce it: a crash is the failure an operator most
    wants to hear of."""
    for run, error in found:
        run.status, run.finished_at, run.error = "failed", now, error[:ERROR_MAX]
    db.session.commit()
    _announce_failed([(run, (now - run.started_at).total_seconds()) for run, _ in found])
    return [run for run, _ in found]


def _announce_failed(failed: list[tuple[ReportRun, float]]) -> None:
    """Send report-failed for runs just committed 'failed', each with its duration in seconds."""
    if failed and signals.report_failed.receivers:
        for run, duration in failed:
            signals.send(signals.report_failed, run=run, report=run.report, error=run.error, duration=duration)


def delete(runs: Iterable[ReportRun]) -> None:
    """Delete run rows (retention), in one transaction."""
    for run in runs:
        db.session.delete(run)
    db.session.commit()


def close_session() -> None:
    """End this thread's session (a background worker's, when its run is done)."""
    db.session.remove()


def end_read() -> None:
    """End the session's read transaction, keeping nothing (after a dry run)."""
    db.session.rollback()


# --- queries ---------------------------------------------------------------------------------------------------


def run_history(report: str | None = None, limit: int = HISTORY_LIMIT) -> list[ReportRun]:
    """The latest ``limit`` runs, newest first; only ``report``'s when given."""
    stmt = select(ReportRun).order_by(*NEWEST_FIRST).limit(limit)
    if report:
        stmt = stmt.where(ReportRun.report == report)
    return list(db.session.scalars(stmt))


def get_run(run_id: int) -> ReportRun | None:
    """The run with this id, if any."""
    return db.session.get(ReportRun, run_id)


def running_ids() -> set[int]:
    """Ids of the runs now 'running' (their temporary files are still being written)."""
    return set(db.session.scalars(select(ReportRun.id).where(ReportRun.status == "running")))


def unfinished_run(report: str, since: datetime, until: datetime) -> ReportRun | None:
    """A run of ``report`` over exactly [since, until) that is queued or running, if any (Run now refuses a
    second one)."""
    return db.session.scalar(select(ReportRun).where(
        ReportRun.report == report, ReportRun.period_start == since, ReportRun.period_end == until,
        ReportRun.status.in_(UNFINISHED)).order_by(ReportRun.id).limit(1))


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


def last_claimed_end(report: str) -> datetime | None:
    """Where the report's scheduled runs (any status) have got to."""
    end = db.session.scalar(select(func.max(ReportRun.period_end))
                            .where(ReportRun.report == report, ReportRun.scheduled_for.is_not(None)))
    db.session.commit()  # end the read, so the claim starts a fresh transaction (SQLite: no stale-snapshot write)
    return end


def expired_runs(report: str, cutoff: datetime) -> list[ReportRun]:
    """The report's runs started before ``cutoff`` that retention may delete, by id.

    Kept: running runs, and the latest scheduled run (the scheduler's bookmark, so pruning never makes a period
    due again).
    """
    bookmark = db.session.scalar(select(ReportRun.id).where(
        ReportRun.report == report, ReportRun.scheduled_for.is_not(None))
        .order_by(ReportRun.period_end.desc(), ReportRun.id.desc()).limit(1))
    return list(db.session.scalars(select(ReportRun).where(
        ReportRun.report == report, ReportRun.started_at < cutoff, ReportRun.status.not_in(UNFINISHED),
        ReportRun.id != (bookmark or 0)).order_by(ReportRun.id)))


def paths_in_use(excluding: Iterable[int]) -> set[str]:
    """The file paths recorded by every run except ``excluding``."""
    return set(db.session.scalars(select(ReportRun.path).where(
        ReportRun.path.is_not(None), ReportRun.id.not_in(sorted(excluding) or [0]))))


def superseded_by(found: Iterable[ReportRun]) -> dict[int, int]:
    """Run id -> the newer succeeded run that wrote the same file (re-running a period replaces its file), for the
    succeeded runs in ``found`` that have one. Asked of the table, so a page of history needs one query."""
    paths = {run.path for run in found if run.status == "succeeded" and run.path}
    if not paths:
        return {}
    newest = dict(db.session.execute(select(ReportRun.path, func.max(ReportRun.id)).where(
        ReportRun.status == "succeeded", ReportRun.path.in_(sorted(paths))).group_by(ReportRun.path)).all())
    return {run.id: newest[run.path] for run in found
            if run.status == "succeeded" and run.path in newest and newest[run.path] > run.id}
