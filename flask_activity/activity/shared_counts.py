"""The dashboard's shared counts: events per quarter hour, model and action over the last days, in a small table
that the scheduler counts again every ``DASHBOARD_COUNTS_REFRESH`` seconds and every web process reads.

Why: each process counted the chart's 30 days itself, so a fresh process's first dashboard took seconds on a large
table (5 s at 20M items), and every process counted them again per ``DASHBOARD_CHART_TTL``. Summing a day's 96
quarter hours from this table takes milliseconds. It is query-based like everything else: a count of the audit
columns, written by the scheduler, never on the write path. A quarter hour, because every zone in use today is a
whole number of quarter hours off UTC, so any reader's local day is a sum of whole buckets; a window that is not
(a historic zone) is counted live, as is a table too old, too short or missing.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any

from flask import current_app
from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    bindparam,
    case,
    delete,
    func,
    insert,
    inspect,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..state import state
from ..tables import ActivityModel
from ..types import UTC, UTCDateTime
from .day_statements import bucket_select
from .events import ActivityFilter, branches, session_or_default

log = logging.getLogger(__name__)

BUCKET = 900  # seconds: a quarter hour
STORED_DAYS = 32  # the chart's 30 local days, in any zone (UTC-12 to UTC+14), with a day to spare
STATE_ID = 1
_PG_LOCK = 0x61637431  # the advisory lock two refreshes take in turn (PostgreSQL)


class EventCount(ActivityModel):
    """Events of one (model, action) whose time falls in one quarter hour (``bucket``: its start, seconds since
    1970 UTC). Only non-zero counts are kept."""

    __tablename__ = "activity_event_counts"

    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False)


class EventCountsState(ActivityModel):
    """What the table holds: buckets from ``since`` to ``until`` (seconds since 1970 UTC, half-open), counted at
    ``counted_at``. One row (id 1); a reader trusts the table only while it is young enough."""

    __tablename__ = "activity_event_counts_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    since: Mapped[int] = mapped_column(BigInteger, nullable=False)
    until: Mapped[int] = mapped_column(BigInteger, nullable=False)
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)


@dataclass(frozen=True)
class Refreshed:
    """One refresh: the buckets counted (``since`` to ``until``), as of ``counted_at``; rows kept, events, time."""

    since: datetime
    until: datetime
    counted_at: datetime
    rows: int
    events: int
    duration_ms: int


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _instant(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def refresh_counts(now: datetime, days: int = STORED_DAYS, session: Session | None = None,
                   if_older_than: float = 0) -> Refreshed | None:
    """Count the last ``days`` days' whole quarter hours before ``now`` again, and replace the table with them.

    One statement reads every branch grouped by bucket (the chart's own terms, so a day sums to what the feed
    shows); the table is then replaced in one short transaction, so readers see the old counts or the new, never
    a mix. With ``if_older_than`` > 0, nothing is done (None) when the table was counted less than that many
    seconds ago: two scheduler processes take turns (an advisory lock on PostgreSQL, the write lock on SQLite)
    and the second finds the work done.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    session = session_or_default(session)
    started = time.perf_counter()
    until = _epoch(now) // BUCKET * BUCKET
    since = until - days * 86400
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:  # held to the commit: a second refresh waits, then finds this one's work done
        session.execute(select(func.pg_advisory_xact_lock(_PG_LOCK)))
    if _done_lately(session, now, if_older_than):
        return None
    counting = bucket_select(BUCKET)
    totals: dict[tuple[int, str, str], int] = defaultdict(int)
    for term, bucket, n in session.execute(counting.statement, {"lo": _instant(since), "hi": _instant(until)}):
        totals[(int(bucket), *counting.terms[term])] += int(n)
    if not postgresql:  # SQLite: the write lock is taken only now, so counting never holds up the app's writers
        session.execute(update(EventCountsState).values(id=EventCountsState.id))
        if _done_lately(session, now, if_older_than):
            return None
    rows = [{"bucket": b, "model": m, "action": a, "n": n} for (b, m, a), n in sorted(totals.items()) if n]
    session.execute(delete(EventCount))
    if rows:
        session.execute(insert(EventCount), rows)
    duration_ms = round((time.perf_counter() - started) * 1000)
    session.execute(delete(EventCountsState))
    session.execute(insert(EventCountsState).values(id=STATE_ID, since=since, until=until, counted_at=now,
                                                    rows=len(rows), duration_ms=duration_ms))
    session.commit()
    return Refreshed(_instant(since), _instant(until), now, len(rows), sum(totals.values()), duration_ms)


def _done_lately(session: Session, now: datetime, if_older_than: float) -> bool:
    """True (and the transaction ended) when the table was counted less than ``if_older_than`` seconds ago."""
    if if_older_than <= 0:
        return False
    held = table_state(session)
    if held is not None and held.fresh(now, if_older_than):
        session.rollback()
        return True
    return False


@lru_cache(maxsize=64)
def _window_select(windows: int, by_model: bool) -> Select:
    """(model, action, k, n): events per (model, action) in window k of ``windows`` back-to-back windows whose
    edges are ``:e0`` .. ``:eN`` (bucket starts), through a CASE over the few rows of the table. Grouped outside a
    subquery: PostgreSQL would not match a CASE over bind parameters in the select list with the GROUP BY's."""
    bucket = EventCount.bucket
    k: Any = literal_column("0", Integer) if windows == 1 else case(
        *((bucket < bindparam(f"e{i}", type_=BigInteger), i - 1) for i in range(1, windows)), else_=windows - 1)
    inner = select(EventCount.model, EventCount.action, k.label("k"), EventCount.n).where(
        bucket >= bindparam("e0", type_=BigInteger), bucket < bindparam(f"e{windows}", type_=BigInteger))
    if by_model:
        inner = inner.where(EventCount.model.in_(bindparam("models", expanding=True)))
    rows = inner.subquery("buckets")
    return (select(rows.c.model, rows.c.action, rows.c.k, func.sum(rows.c.n))
            .group_by(rows.c.model, rows.c.action, rows.c.k))


@dataclass(frozen=True)
class Held:
    """What the table holds: quarter hours from ``since`` to ``until`` (seconds since 1970), counted at
    ``counted_at``."""

    since: int
    until: int
    counted_at: datetime

    def age(self, now: datetime) -> float:
        return (now - self.counted_at).total_seconds()

    def fresh(self, now: datetime, max_age: float) -> bool:
        return 0 <= self.age(now) < max_age


def table_state(session: Session | None = None) -> Held | None:
    """The table's state row, or None before its first refresh."""
    row = session_or_default(session).execute(
        select(EventCountsState.since, EventCountsState.until, EventCountsState.counted_at)
        .where(EventCountsState.id == STATE_ID)).first()
    return Held(int(row.since), int(row.until), row.counted_at) if row is not None else None


def _sum(session: Session, edges: list[int], models: tuple[str, ...]) -> list[dict[tuple[str, str], int]]:
    """Events per (model, action) between each pair of ``edges`` (bucket starts), zero counts included."""
    keys = [(n, a) for n, _, a in branches(ActivityFilter(models=models))]
    out: list[dict[tuple[str, str], int]] = [dict.fromkeys(keys, 0) for _ in edges[1:]]
    params: dict[str, Any] = {f"e{i}": e for i, e in enumerate(edges)}
    if models:
        params["models"] = list(models)
    for model, action, k, n in session.execute(_window_select(len(edges) - 1, bool(models)), params):
        if (model, action) in out[k]:  # a model no longer audited may linger until the next refresh
            out[k][(model, action)] += int(n)
    return out


def stored_prefix(held: Held, windows: Sequence[tuple[datetime, datetime]], models: tuple[str, ...],
                  session: Session | None = None) -> tuple[list[dict[tuple[str, str], int]], datetime] | None:
    """(events per (model, action) in each window up to where the table ends, that end): what the table holds of
    back-to-back ``windows``; the caller counts the rest of them (after the end) live. None when the table cannot
    answer exactly: a window edge off a quarter hour, windows that start before the table or after its end."""
    if not windows:
        return None
    edges = [_epoch(since) for since, _ in windows] + [_epoch(windows[-1][1])]
    if any(a[1] != b[0] for a, b in pairwise(windows)) or edges[0] < held.since or edges[0] >= held.until:
        return None
    end = min(edges[-1], held.until)
    kept = [e for e in edges if e < end] + [end]
    if any(e % BUCKET for e in kept):
        return None
    counts = _sum(session_or_default(session), kept, models)
    keys = list(counts[0])
    counts += [dict.fromkeys(keys, 0) for _ in range(len(windows) - len(counts))]  # windows wholly after the end
    return counts, _instant(end)


def stored_windows(windows: Sequence[tuple[datetime, datetime]], models: tuple[str, ...], now: datetime,
                   max_age: float, session: Session | None = None
                   ) -> tuple[datetime, list[dict[tuple[str, str], int]]] | None:
    """(counted_at, events per (model, action) in each window, zero counts included) from the shared table, as
    count_windows gives them; None when the table cannot answer all of them: counted ``max_age`` seconds ago or
    more (or in the future), not covering the windows, or a window edge off a quarter hour."""
    held = table_state(session)
    if held is None or not held.fresh(now, max_age) or not windows or _epoch(windows[-1][1]) > held.until:
        return None
    found = stored_prefix(held, windows, models, session)
    return (held.counted_at, found[0]) if found is not None else None


def warm_up_reads(windows: int, session: Session | None = None) -> None:
    """Run the statements that sum the table for ``windows`` days and for one (today), over nothing, so they are
    compiled before a server forks its workers."""
    session = session_or_default(session)
    table_state(session)
    for n in (windows, 1):
        _sum(session, list(range(0, (n + 1) * BUCKET, BUCKET)), ())


def shared_counts_ready() -> bool:
    """True when the shared table exists in the current app's database (looked up once a minute while it is
    missing, so a host that creates it later is seen without a restart)."""
    memo: dict[str, Any] = current_app.extensions.setdefault("activity_shared_counts", {})
    if memo.get("ready"):
        return True
    checked = memo.get("checked", float("-inf"))
    if time.monotonic() - checked >= 60:
        memo["checked"] = time.monotonic()
        memo["ready"] = inspect(state().db.engine).has_table(EventCountsState.__tablename__)
    return bool(memo.get("ready"))


def refresh_due(now: datetime) -> datetime | None:
    """The scheduler's wake-up: refresh the table when it is ``DASHBOARD_COUNTS_REFRESH`` seconds old (0: never),
    and say when it is next due. A missing table or a failed count is logged and tried again later; the dashboard
    counts for itself meanwhile."""
    every = float(current_app.config["DASHBOARD_COUNTS_REFRESH"])
    if every <= 0:
        return None
    if not shared_counts_ready():
        memo: dict[str, Any] = current_app.extensions.setdefault("activity_shared_counts", {})
        if not memo.get("warned"):  # once per process: the doctor says what to create
            memo["warned"] = True
            log.warning("the dashboard's shared counts table (%s) is missing; create it (flask activity doctor)",
                        EventCount.__tablename__)
        return now + timedelta(seconds=60)
    session = state().db.session
    try:
        done = refresh_counts(now, if_older_than=every)
        if done is not None:
            log.info("dashboard counts refreshed: %s buckets, %s events, %s ms", done.rows, done.events,
                     done.duration_ms)
        held = table_state(session)
    except SQLAlchemyError:
        log.exception("refreshing the dashboard's shared counts failed; trying again in %s s", every)
        session.rollback()
        return now + timedelta(seconds=every)
    finally:
        session.remove()
    return (held.counted_at if held is not None else now) + timedelta(seconds=every)
