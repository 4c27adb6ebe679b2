"""Running the feed's statements: pages, event streams, counts, actor summaries and the dashboard's numbers.

Every answer is observed by the ``activity-queried`` signal when (and only when) someone listens.
"""
from __future__ import annotations

import heapq
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from .. import signals
from ..timefmt import start_of_day
from ..types import UTC
from .daily import DailyCounts, DayCountCache, Recount, daily_counts
from .events import DEFAULT_LIMIT, ActivityFilter, Cursor, Event, Page, branches, model_registry, session_or_default
from .params import decode_cursor, parse_filter, parse_limit
from .shared_counts import warm_up_reads
from .statements import count_select, page_select, stream_select, summary_select


def queried(kind: str, flt: ActivityFilter, rows: int, started: float, sender: Any = None) -> None:
    """Send ``activity-queried`` for an answer that took since ``started`` (a perf_counter reading)."""
    signals.send(signals.activity_queried, sender, kind=kind, filters=flt, rows=rows,
                 duration=time.perf_counter() - started)


def fetch_page(flt: ActivityFilter, limit: int = DEFAULT_LIMIT, cursor: Cursor | None = None,
               session: Session | None = None) -> Page:
    """One page of events, newest first, and the cursor for the next (older) page."""
    started = time.perf_counter()
    page = query_page(flt, limit, cursor, session_or_default(session))
    if signals.activity_queried.receivers:
        queried("page", flt, len(page.events), started)
    return page


def query_page(flt: ActivityFilter, limit: int, cursor: Cursor | None, session: Session) -> Page:
    """fetch_page without the hook: the benchmark's baseline for what an idle hook costs."""
    shape = tuple((n, a) for n, _, a in branches(flt))
    if not shape:
        return Page([], None, flt)
    actor = "id" if flt.actor_id is not None else "system" if flt.system_actor else None
    stmt = page_select(shape, flt.since is not None, flt.until is not None, actor,
                       (cursor.model, cursor.action) if cursor else None, flt.record_id is not None,
                       flt.parent[0] if flt.parent else None)
    params = {"limit": limit + 1, "since": flt.since, "until": flt.until, "actor_id": flt.actor_id,
              "cursor_at": cursor.at if cursor else None, "cursor_id": cursor.id if cursor else None,
              "record_id": flt.record_id, "parent_id": flt.parent[1] if flt.parent else None}
    events = [
        Event(r.at, r.model, r.id, r.action, r.actor_id, r.person, r.label)
        for r in session.connection().execute(stmt, params)
    ]
    events.sort(key=lambda e: e.key, reverse=True)  # already in this order; kept as the definition of it
    next_cursor = None
    if len(events) > limit:
        last = events[limit - 1]
        next_cursor = Cursor(last.at, last.model, last.id, last.action)
    return Page(events[:limit], next_cursor, flt)


def page_for(args: Mapping[str, Any], zone: ZoneInfo, default_limit: int = DEFAULT_LIMIT) -> Page:
    """Parse filters, limit and cursor from request-like args and fetch that page."""
    flt = parse_filter(args, zone)
    limit = parse_limit(args.get("limit"), default_limit)
    return fetch_page(flt, limit, decode_cursor(args.get("cursor")))


def iter_events(flt: ActivityFilter, chunk_size: int = 1000,
                session: Session | None = None) -> Generator[Event, None, None]:
    """Every event matching ``flt`` as Event objects, newest first, in one pass with flat memory.

    For code that wants events (a custom report's ``rows=``); CSV goes through iter_event_csv,
    which yields the same rows in the same order, several times faster, and is tested against this.
    One streamed, index-ordered cursor per (model, action) branch, merged in the feed's total order.
    """
    started = time.perf_counter()
    session = session_or_default(session)
    results = [session.execute(stream_select(name, cls, action, flt)
                               .execution_options(stream_results=True, yield_per=chunk_size))
               for name, cls, action in branches(flt)]
    streams = [(Event(r.at, r.model, r.id, r.action, r.actor_id, r.person, r.label) for r in rows) for rows in results]
    merged = heapq.merge(*streams, key=lambda e: e.key, reverse=True)
    hooked = bool(signals.activity_queried.receivers)
    sender, n = (signals.app_sender() if hooked else None), 0
    try:
        for event in merged:
            n += 1
            yield event
    finally:  # also when the reader stops early (a client that went away): no server cursor is left open
        for result in results:
            result.close()
        if hooked:
            queried("stream", flt, n, started, sender)


def count_events(flt: ActivityFilter, session: Session | None = None,
                 cap: int | None = None) -> dict[tuple[str, str], int]:
    """Number of events per (model, action) in one round trip; zero counts included.

    With ``cap``, each branch stops counting after cap + 1 rows (a count above ``cap`` means "more than
    cap"): the cost is bounded however busy the window was, which is what a page that loads often needs.
    """
    started = time.perf_counter()
    session = session_or_default(session)
    counts = {(n, a): 0 for n, _, a in branches(flt)}
    stmt, params = count_select(flt, cap)
    if stmt is not None:
        for row in session.connection().execute(stmt, params):
            counts[(row.model, row.action)] = int(row.n)
    if signals.activity_queried.receivers:
        queried("count", flt, len(counts), started)
    return counts


def actor_summary(flt: ActivityFilter, session: Session | None = None) -> list[dict[str, Any]]:
    """Per actor and action: number of events and first/last time, one GROUP BY per branch in one round trip."""
    started = time.perf_counter()
    session = session_or_default(session)
    stmt = summary_select(flt)
    if stmt is None:
        return []
    lines = [dict(r._mapping) for r in session.execute(stmt)]
    if signals.activity_queried.receivers:
        queried("summary", flt, len(lines), started)
    return lines


@dataclass(frozen=True)
class DashboardSummary:
    """The admin home's numbers: events per day (the chart), the latest events, and counts per (model, action)
    since midnight today (in the reader's zone) and over the last 7 days (168 hours)."""

    daily: DailyCounts
    latest: list[Event]
    today_since: datetime
    week_since: datetime
    counts_today: dict[tuple[str, str], int]
    counts_week: dict[tuple[str, str], int]
    cap: int | None  # counts stop above this (None: exact)
    models: tuple[str, ...]

    @property
    def capped(self) -> bool:
        """Some count stopped at the cap (it shows as "cap+")."""
        cap = self.cap
        return cap is not None and any(n > cap for n in (*self.counts_today.values(), *self.counts_week.values()))


def dashboard_summary(zone: ZoneInfo, now: datetime, chart_model: str = "", chart_days: int = 30,
                      latest: int = 20, cap: int | None = None, cache: DayCountCache | None = None, ttl: float = 0,
                      session: Session | None = None, live_ttl: float = 0,
                      recount: Recount | None = None, shared: bool = False) -> DashboardSummary:
    """Everything the dashboard shows from the feed, for a reader in ``zone`` at ``now``.

    The chart counts ``chart_days`` days of ``chart_model`` (empty: every model), through ``cache`` for ``ttl``
    seconds (see daily_counts); it is counted first, so an unknown model raises BadActivityQuery before any
    other query. Counts stop at ``cap`` so the page costs the same on a busy day (None counts everything). With
    ``live_ttl`` > 0, today's bar and the today / 7 days counts are reused from ``cache`` that many seconds: many
    admins on the dashboard share one count per process rather than one each. ``recount`` and ``shared``: see
    daily_counts.
    """
    daily = daily_counts(chart_days, zone, now, [chart_model] if chart_model else None, session=session,
                         cache=cache, ttl=ttl, today_ttl=live_ttl, recount=recount, shared=shared)
    today = start_of_day(now.astimezone(zone).date(), zone)
    week = now - timedelta(days=7)
    page = fetch_page(ActivityFilter(), limit=latest, session=session)
    key = ("dashboard counts", str(zone), today, cap)
    hit = cache.get(key, now, live_ttl) if cache is not None and live_ttl > 0 else None
    if hit is not None:
        counts_today, counts_week = (dict(c) for c in hit[1])
        week = hit[0] - timedelta(days=7)  # the window that was counted
    else:
        counts_today = count_events(ActivityFilter(since=today), session=session, cap=cap)
        counts_week = count_events(ActivityFilter(since=week), session=session, cap=cap)
        if cache is not None and live_ttl > 0:
            cache.put(key, now, (counts_today, counts_week))
    return DashboardSummary(daily, page.events, today, week, counts_today, counts_week, cap, tuple(model_registry()))


def warm_up(zone: ZoneInfo, cap: int, chart_days: int = 30, shared: bool = False,
            session: Session | None = None) -> None:
    """Run the dashboard's statements once, over a day with no events, so SQLAlchemy compiles them before the
    first request: a server calls it before forking its workers, which then start with them compiled (a fresh
    process's first dashboard spent about 60 ms compiling them). Counts nothing large: the chart's days are in
    2000, the counters stop at ``cap``, and with ``shared`` the shared counts' statements run over no buckets."""
    quiet = datetime(2000, 1, 1, 12, tzinfo=UTC)
    dashboard_summary(zone, quiet, chart_days=chart_days, cap=cap, session=session)
    if shared:
        warm_up_reads(chart_days - 1, session=session)


#: A person page's count windows: (label, days back; 0 = since midnight today in the reader's zone).
PERSON_WINDOWS = (("Today", 0), ("7 days", 7), ("30 days", 30))


@dataclass(frozen=True)
class PersonSummary:
    """One actor's page (``actor_id`` None: the system, writes with no recorded user): their latest events,
    counts per (model, action) in each of PERSON_WINDOWS, and their first and last event."""

    actor_id: Any
    latest: list[Event]
    windows: list[tuple[str, datetime, dict[tuple[str, str], int]]]  # (label, since, counts)
    first_at: datetime | None
    last_at: datetime | None
    cap: int | None

    @property
    def capped(self) -> bool:
        return self.cap is not None and any(n > self.cap for _, _, c in self.windows for n in c.values())


def person_summary(actor_id: Any, zone: ZoneInfo, now: datetime, latest: int = 20, cap: int | None = None,
                   session: Session | None = None) -> PersonSummary:
    """What one actor did (None: the system), for a reader in ``zone`` at ``now``; through the feed's own filter
    (``actor_id`` / ``system_actor``), so every number is what the feed filtered by them shows."""
    def by(since: datetime | None = None) -> ActivityFilter:
        return ActivityFilter(since=since, actor_id=actor_id, system_actor=actor_id is None)

    today = start_of_day(now.astimezone(zone).date(), zone)
    windows = []
    for label, days in PERSON_WINDOWS:
        since = today if days == 0 else now - timedelta(days=days)
        windows.append((label, since, count_events(by(since), session=session, cap=cap)))
    lines = actor_summary(by(), session=session)
    firsts = [line["first_at"] for line in lines if line["first_at"] is not None]
    lasts = [line["last_at"] for line in lines if line["last_at"] is not None]
    page = fetch_page(by(), limit=latest, session=session)
    return PersonSummary(actor_id, page.events, windows, min(firsts, default=None), max(lasts, default=None), cap)
