"""When reports are due, and claiming and running them. Cron expressions are evaluated in each report's zone.

Everything here takes the definitions and ``now``, so tests need no clock. A scheduled run fired at F covers
[previous fire time, F); its ``period_start`` is the claim key: the partial unique index on
(report, period_start) lets exactly one scheduler process insert the run row, and the others skip it.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from apscheduler.triggers.cron import CronTrigger
from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from flask_activity.reporting.models import ReportRun

from .. import signals
from ..state import db
from ..types import UTC, utcnow
from . import runner, runs
from .definition import ReportDefinition, ReportError

log = logging.getLogger(__name__)

CATCH_UP = ("run", "mark")
MAX_SLEEP = 30.0  # seconds: the loop wakes at least this often (a stop request never waits longer)
_TICK = timedelta(microseconds=1)
_LOOK_BACK = timedelta(days=366 * 9)  # the longest gap a 5-field cron can have (29 February across 2100)


class Due(NamedTuple):
    """One period a schedule owes: fired at ``fire``, covering [start, end) (end == fire), all UTC."""

    fire: datetime
    start: datetime
    end: datetime


def trigger(defn: ReportDefinition) -> CronTrigger:
    """The report's cron expression as a trigger in its zone."""
    return CronTrigger.from_crontab(defn.schedule, timezone=defn.zone)


def check_schedule(defn: ReportDefinition) -> None:
    """Raise ReportError when the report's cron expression or time zone is unusable."""
    if not defn.schedule:
        return
    try:
        trigger(defn)
    except (ValueError, KeyError) as exc:
        raise ReportError(f"report {defn.name}: bad schedule {defn.schedule!r} in {defn.timezone}: {exc}") from None


def _every_hour(trig: CronTrigger) -> bool:
    """True when the hour field matches all 24 hours (``*``, ``*/1``, ``0-23``)."""
    hours: set[int] = set()
    for expr in next(f for f in trig.fields if f.name == "hour").expressions:
        first, last = getattr(expr, "first", 0), getattr(expr, "last", 23)
        hours.update(range(first, (23 if last is None else last) + 1, expr.step or 1))
    return hours >= set(range(24))


def _repeated_wall_time(fire: datetime) -> bool:
    """True for the second occurrence of a wall-clock time, in the hour the clocks go back."""
    local = fire.astimezone(UTC).astimezone(fire.tzinfo)  # via UTC, so zoneinfo sets fold=1 on the repeat
    return local.fold == 1 and local.replace(fold=0).astimezone(UTC) != local.astimezone(UTC)


def fire_times(defn: ReportDefinition, after: datetime, until: datetime) -> Iterator[datetime]:
    """Fire times F with after < F <= until, in UTC, in order.

    Daylight saving neither skips nor doubles a run: a wall time the spring change removes fires once, at the
    same instant offset as before the change (02:30 -> 03:30 summer time); in the hour the autumn change repeats,
    a schedule that names its hours fires once (the first 02:30), while one that runs every hour fires in both
    hours, which are different real hours.
    """
    if not defn.schedule:
        return
    trig = trigger(defn)
    keep_repeats = _every_hour(trig)
    fire = trig.get_next_fire_time(None, after + _TICK)
    while fire is not None and fire <= until:
        if keep_repeats or not _repeated_wall_time(fire):
            yield fire.astimezone(UTC)
        fire = trig.get_next_fire_time(fire, fire)


def previous_fire_time(defn: ReportDefinition, before: datetime) -> datetime | None:
    """The latest fire time strictly before ``before`` (None if the schedule never fired in nine years)."""
    window = timedelta(minutes=2)
    while True:
        last = deque(fire_times(defn, before - window, before - _TICK), maxlen=1)
        if last or window >= _LOOK_BACK:
            return last[0] if last else None
        window *= 2


def next_fire_time(defn: ReportDefinition, now: datetime) -> datetime | None:
    """The next time the report's schedule fires after ``now`` (None when it has no schedule)."""
    return next(fire_times(defn, now, now + _LOOK_BACK), None)


def due_periods(defn: ReportDefinition, last_claimed_end: datetime | None, now: datetime) -> list[Due]:
    """Periods owed at ``now``, oldest first.

    After a claimed period: every fire time since, however late (downtime is caught up, never skipped), each
    period starting where the previous one ended. Never claimed before: only the latest fire time <= now, so a
    new schedule does not backfill all history.
    """
    if not defn.schedule:
        return []
    if last_claimed_end is None:
        fire = previous_fire_time(defn, now + _TICK)
        start = previous_fire_time(defn, fire) if fire else None
        return [Due(fire, start, fire)] if fire and start else []
    due, start = [], last_claimed_end
    for fire in fire_times(defn, last_claimed_end, now):
        due.append(Due(fire, start, fire))
        start = fire
    return due


def claim(defn: ReportDefinition, due: Due, missed: str | None = None) -> ReportRun | None:
    """Insert the period's run row ('running', or 'missed' with a reason); None if another scheduler has it."""
    return runs.claim(defn.name, defn.parse_params({}), due.start, due.end, due.fire, missed)


@dataclass
class TickResult:
    """What one tick saw and did: ``ran`` succeeded, ``failed`` raised, ``missed`` were recorded, not run."""

    due: list[tuple[str, Due]] = field(default_factory=list)
    claimed: list[ReportRun] = field(default_factory=list)
    ran: list[ReportRun] = field(default_factory=list)
    failed: list[ReportRun] = field(default_factory=list)
    missed: list[ReportRun] = field(default_factory=list)


def _scheduled(definitions: Iterable[ReportDefinition] | Mapping[str, ReportDefinition]) -> list[ReportDefinition]:
    defs = definitions.values() if isinstance(definitions, Mapping) else definitions
    return [d for d in defs if d.schedule]


def tick(definitions: Iterable[ReportDefinition] | Mapping[str, ReportDefinition], now: datetime,
         catch_up: str | None = None, on_run: Callable[[ReportRun], None] | None = None,
         stop: threading.Event | None = None) -> TickResult:
    """Claim and run every period due at ``now``; a failed run is recorded and the tick goes on.

    With catch_up='mark' (REPORT_CATCH_UP), periods older than the latest due one are recorded 'missed' with a
    reason instead of being run; the latest due period always runs, however late. Once ``stop`` is set no new
    period is claimed (a long catch-up does not hold up shutdown; what is left is due at the next start).
    """
    catch_up = catch_up or current_app.config["REPORT_CATCH_UP"]
    if catch_up not in CATCH_UP:
        raise ReportError(f"REPORT_CATCH_UP must be one of {', '.join(CATCH_UP)}, not {catch_up!r}")
    result = TickResult()
    try:
        _tick(definitions, now, catch_up, result, on_run, stop)
    finally:
        if signals.scheduler_tick.receivers:
            signals.send(signals.scheduler_tick, now=now, due=list(result.due), claimed=list(result.claimed),
                         result=result)
    return result


def _tick(definitions: Iterable[ReportDefinition] | Mapping[str, ReportDefinition], now: datetime, catch_up: str,
          result: TickResult, on_run: Callable[[ReportRun], None] | None, stop: threading.Event | None) -> None:
    for defn in _scheduled(definitions):
        due = due_periods(defn, runs.last_claimed_end(defn.name), now)
        for i, period in enumerate(due):
            if stop is not None and stop.is_set():
                return
            result.due.append((defn.name, period))
            backlog = catch_up == "mark" and i < len(due) - 1
            reason = (f"not run at {period.fire.astimezone(defn.zone):%Y-%m-%d %H:%M %Z} (scheduler down or busy); "
                      f"REPORT_CATCH_UP=mark records missed periods instead of running them late") if backlog else None
            run = claim(defn, period, reason)
            if run is None:
                continue  # another scheduler process claimed it
            result.claimed.append(run)
            if backlog:
                result.missed.append(run)
            else:
                try:
                    result.ran.append(runner.execute(run, defn))
                except runner.ReportFailed as exc:
                    log.warning("report %s, period from %s, failed: %s", defn.name, period.start, exc)
                    result.failed.append(exc.run)
            if on_run:
                on_run(run)


def serve(definitions: Iterable[ReportDefinition] | Mapping[str, ReportDefinition], stop: threading.Event,
          clock: Callable[[], datetime] = utcnow, sleep: Callable[[float], object] | None = None,
          on_run: Callable[[ReportRun], None] | None = None,
          also: Callable[[datetime], datetime | None] | None = None) -> None:
    """Run ticks until ``stop`` is set, sleeping until the next fire time (at most MAX_SLEEP seconds).

    Start-up housekeeping first (temporary files, runs of dead processes); a database outage is logged and
    retried on the next wake-up rather than ending the process. ``also(now)`` is more work due at each wake-up
    (the deliveries), returning when it is next due.
    """
    defs = _scheduled(definitions)
    wait = sleep or stop.wait
    runner.recover()
    unrecorded: str | None = None  # a failed tick may have left a run of ours 'running': why, to record it
    while not stop.is_set():
        try:
            if unrecorded:
                runs.fail_unrecorded_runs(unrecorded)
                unrecorded = None
            tick(defs, clock(), on_run=on_run, stop=stop)
            extra = also(clock()) if also is not None and not stop.is_set() else None
        except ReportError:
            raise
        except Exception as exc:  # logged, and the next wake-up retries: a scheduler keeps serving
            log.exception("scheduler tick failed; retrying in %s s", MAX_SLEEP)
            unrecorded = unrecorded or runs.describe(exc)
            _reset_session()
            extra = None
        if stop.is_set():
            break
        now = clock()
        nexts = [n for n in (next_fire_time(d, now) for d in defs) if n is not None] + ([extra] if extra else [])
        seconds = min([(n - now).total_seconds() for n in nexts] + [MAX_SLEEP])
        wait(max(0.0, seconds))


def _reset_session() -> None:
    """End the failed transaction and its session, so the next tick starts afresh.

    With the database gone even the rollback can fail; then the session's connections are invalidated (closed
    without a rollback; the pool opens new ones) and the session dropped.
    """
    try:
        db.session.remove()
    except SQLAlchemyError:  # a connection that cannot roll back: close it as it is
        db.session().invalidate()
        db.session.registry.clear()
