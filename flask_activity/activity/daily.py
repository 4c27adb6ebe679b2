"""Events per window and per local calendar day (the dashboard's chart, the daily report), and their cache."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.orm import Session

from ..timefmt import start_of_day
from .day_statements import day_select
from .events import ACTIONS, ActivityFilter, BadActivityQuery, branches, check_actions, check_models, session_or_default
from .shared_counts import Held, refresh_counts, stored_prefix, table_state

MAX_CHART_DAYS = 366  # a year: one statement per day, so this bounds the round trips of one count


@dataclass(frozen=True)
class DayCount:
    """One calendar day in the chart's zone: its window ``[since, until)`` in UTC and the events per action in it.

    The window is exactly the feed's ``since=D 00:00, until=D+1 00:00`` read in that zone, so a day of 23 or 25
    hours (a daylight-saving change) is still one day, and a link built from it shows the same events.
    """

    day: date
    since: datetime
    until: datetime
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def hours(self) -> float:
        """Other than 24 on a daylight-saving day (23 or 25 in most zones; 23.5 or 24.5 on Lord Howe Island)."""
        return (self.until - self.since).total_seconds() / 3600


@dataclass(frozen=True)
class DailyCounts:
    """Events per action for each of the last N local days, oldest first; the last day is today (so far)."""

    zone: ZoneInfo
    models: tuple[str, ...]  # () means every model
    days: tuple[DayCount, ...]
    counted_at: datetime  # when the past days were counted (earlier than ``now`` when they came from the cache)
    cached: bool = False  # past days came from the cache or the shared counts
    #: Today before this instant came from the shared counts too (as of ``counted_at``-ish: the table's last
    #: refresh), only the minutes since were counted live; None: all of today was counted live.
    live_since: datetime | None = None

    def totals(self) -> dict[str, int]:
        """Events per action over the whole range."""
        return {a: sum(d.counts.get(a, 0) for d in self.days) for a in ACTIONS}


def day_windows(days: int, zone: ZoneInfo, now: datetime) -> list[tuple[date, datetime, datetime]]:
    """(day, since, until) in UTC for the last ``days`` local days in ``zone``, oldest first, today last."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not 1 <= days <= MAX_CHART_DAYS:
        raise BadActivityQuery(f"days must be from 1 to {MAX_CHART_DAYS}, not {days}")
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    edges = [start_of_day(first + timedelta(days=k), zone) for k in range(days + 1)]
    return [(first + timedelta(days=k), edges[k], edges[k + 1]) for k in range(days)]


def count_windows(windows: Sequence[tuple[datetime, datetime]], models: Sequence[str] = (),
                  actions: Sequence[str] = (), session: Session | None = None) -> list[dict[tuple[str, str], int]]:
    """Events per (model, action) in each ``[since, until)`` window, zero counts included; one statement a window.

    Exactly what count_events gives for ``ActivityFilter(since, until, models, actions)`` (the same branches, read
    through cheaper terms: see day_statements.count_terms), and what the dashboard's chart and the daily report count.
    ``models`` and ``actions`` empty mean all; an unknown one raises BadActivityQuery.
    """
    chosen_models = tuple(sorted(dict.fromkeys(models)))
    chosen_actions = tuple(a for a in ACTIONS if a in actions)
    check_models(chosen_models)
    check_actions(actions)
    keys = [(n, a) for n, _, a in branches(ActivityFilter(models=chosen_models, actions=chosen_actions))]
    out: list[dict[tuple[str, str], int]] = [dict.fromkeys(keys, 0) for _ in windows]
    if not keys:
        return out
    session = session_or_default(session)
    day = day_select(chosen_models, chosen_actions)
    for k, (since, until) in enumerate(windows):
        for term, n in session.execute(day.statement, {"lo": since, "hi": until}):
            out[k][day.terms[term]] += int(n)
    return out


TodayCount = tuple[dict[str, int], datetime | None]  # events per action, and where the live count began (or None)


def _today(count: Callable[[], TodayCount], key: tuple[Any, ...], cache: DayCountCache | None, now: datetime,
           ttl: float) -> TodayCount:
    """Today's count, reused from ``cache`` for ``ttl`` seconds when ttl > 0 (else counted now)."""
    hit = cache.get(key, now, ttl) if cache is not None and ttl > 0 else None
    if hit is not None:
        counts, live_since = hit[1]
        return dict(counts), live_since
    counted = count()
    if cache is not None and ttl > 0:
        cache.put(key, now, counted)
    return counted


def _per_action(counts: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """(model, action) counts summed over the models: events per action, every action present."""
    out = dict.fromkeys(ACTIONS, 0)
    for (_model, action), n in counts.items():
        out[action] += n
    return out


class DayCountCache:
    """Counts of completed past days per (zone, models, days, today), kept for a short time in this process.

    A past day's count can still change (a later update or deletion moves an event out of it), so it is only
    kept ``ttl`` seconds; today is never cached. Bounded to ``size`` keys, oldest dropped first; thread-safe.
    """

    def __init__(self, size: int = 128) -> None:
        self._entries: OrderedDict[tuple[Any, ...], tuple[datetime, tuple[Any, ...]]] = OrderedDict()
        self._lock = threading.Lock()
        self._recounting: set[tuple[Any, ...]] = set()
        self.size = size

    def peek(self, key: tuple[Any, ...]) -> tuple[datetime, tuple[Any, ...]] | None:
        """The entry for ``key`` however old it is (a stale chart, served while it is counted again)."""
        with self._lock:
            return self._entries.get(key)

    def claim(self, key: tuple[Any, ...]) -> bool:
        """True for the one caller that is to count ``key`` again; False while a recount of it is under way."""
        with self._lock:
            if key in self._recounting:
                return False
            self._recounting.add(key)
            return True

    def release(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            self._recounting.discard(key)

    def get(self, key: tuple[Any, ...], now: datetime,
            ttl: float) -> tuple[datetime, tuple[Any, ...]] | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        age = (now - entry[0]).total_seconds()
        return entry if 0 <= age < ttl else None  # a clock that went back counts as expired

    def put(self, key: tuple[Any, ...], counted_at: datetime, past: tuple[Any, ...]) -> None:
        with self._lock:
            self._entries[key] = (counted_at, past)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _count_again(cache: DayCountCache, key: tuple[Any, ...],
                 count: Callable[[Sequence[tuple[date, datetime, datetime]]], list[dict[str, int]]],
                 past: Sequence[tuple[date, datetime, datetime]], now: datetime) -> None:
    """A recount job: the past days counted again and cached as of ``now`` (when they were found expired)."""
    try:
        cache.put(key, now, tuple(count(past)))
    finally:
        cache.release(key)


SHARED_REFRESH = ("shared counts", "refresh")  # the claim that one thread of this process refreshes the table


def _refresh_in_background(cache: DayCountCache, recount: Recount, now: datetime, ttl: float) -> None:
    """Start one refresh of the shared table (no scheduler keeps it, or it fell behind); one per process at a time,
    and across processes refresh_counts' lock and ``if_older_than`` leave the work to whichever comes first."""
    if not cache.claim(SHARED_REFRESH):
        return
    try:
        recount(partial(_refresh_shared, cache, now, ttl))
    except BaseException:  # not started: the next reader may try again
        cache.release(SHARED_REFRESH)
        raise


def _refresh_shared(cache: DayCountCache, now: datetime, ttl: float) -> None:
    try:
        refresh_counts(now, if_older_than=ttl)
    finally:
        cache.release(SHARED_REFRESH)


def app_day_cache() -> DayCountCache:
    """The current app's cache of past days' counts (one per app, so two apps never share numbers)."""
    cache: DayCountCache = current_app.extensions.setdefault("activity_day_counts", DayCountCache())
    return cache


#: Runs a job away from the request (in a thread, with the app's context): how an expired chart is counted again.
Recount = Callable[[Callable[[], None]], None]


def daily_counts(days: int, zone: ZoneInfo, now: datetime, models: Sequence[str] | None = None,
                 session: Session | None = None, cache: DayCountCache | None = None, ttl: float = 0,
                 today_ttl: float = 0, recount: Recount | None = None, shared: bool = False) -> DailyCounts:
    """Events per action for each of the last ``days`` calendar days in ``zone`` (today included), oldest first.

    A day counts exactly what the feed shows for ``since=D 00:00, until=D+1 00:00`` in ``zone`` (the same
    branches, conditions and half-open window), for ``models`` (None or empty: all); one statement per day. With a
    ``cache`` and ``ttl`` > 0, past days counted less than ``ttl`` seconds ago are reused and only today is
    counted, so the cost no longer grows with the busiest month. With ``recount`` too, past days whose ``ttl`` has
    run out are still served (``cached``, with their ``counted_at``) while one ``recount`` job counts them again
    for the next reader: on a large table the chart's 30 days take seconds, and no request should wait for them
    after the first. With ``shared``, past days not in ``cache`` are read from the shared counts table when it
    was counted less than ``ttl`` seconds ago (shared_counts: the scheduler counts them once for every process),
    so even a fresh process's first chart counts only today; and today, unless ``today_ttl`` is 0 (an exact
    count), is the table's quarter hours so far plus a live count of the minutes since its last refresh
    (``live_since``). With ``recount`` too, a table older than ``ttl`` (no scheduler keeps it, or it fell behind) is
    served as it is, with its ``counted_at``, while one ``recount`` job refreshes it for every process: once the
    table was filled, no process's first chart counts the past days itself. Raises BadActivityQuery for an
    unknown model.
    """
    chosen = tuple(sorted(dict.fromkeys(m.lower() for m in models or ())))
    check_models(chosen)
    windows = day_windows(days, zone, now)

    def count(part: Sequence[tuple[date, datetime, datetime]]) -> list[dict[str, int]]:
        return [_per_action(c) for c in count_windows([(s, u) for _, s, u in part], chosen, session=session)]

    table_age = ttl  # how old the shared table may be for today's head (any age while it is being refreshed)
    read: list[Held | None] = []  # the table's state, once read by this call

    def from_table(held: Held, part: Sequence[tuple[datetime, datetime]]
                   ) -> tuple[list[dict[str, int]], datetime] | None:
        """``part``'s counts: what the table holds, plus a live count of each window after the table's end."""
        found = stored_prefix(held, part, chosen, session=session)
        if found is None:
            return None
        counts, end = found
        rest = [(max(s, end), u) for s, u in part if u > end]
        for k, live in zip(range(len(part) - len(rest), len(part)), count_windows(rest, chosen, session=session),
                           strict=True):
            counts[k] = {key: n + live[key] for key, n in counts[k].items()}
        return [_per_action(c) for c in counts], end

    def count_today() -> TodayCount:
        [(_, since, until)] = windows[-1:]
        held = (read[0] if read else table_state(session)) if shared and today_ttl > 0 else None
        found = from_table(held, [(since, until)]) if held is not None and held.fresh(now, table_age) else None
        if found is None:
            return count(windows[-1:])[0], None
        return found[0][0], found[1]

    key = (str(zone), chosen, days, windows[-1][0])
    today_key = (str(zone), chosen, "today", windows[-1][0])
    hit = cache.get(key, now, ttl) if cache is not None and ttl > 0 and days > 1 else None
    if hit is None and shared and ttl > 0 and days > 1:
        held = table_state(session)
        read.append(held)
        fresh = held is not None and held.fresh(now, ttl)
        refreshing = held is not None and not fresh and cache is not None and recount is not None and session is None
        if refreshing and cache is not None and recount is not None:  # one thread refreshes it for every process
            _refresh_in_background(cache, recount, now, ttl)
            table_age = float("inf")
        found = from_table(held, [(s, u) for _, s, u in windows[:-1]]) if held and (fresh or refreshing) else None
        if held is not None and found is not None:  # served as it is (with its time) while it is refreshed
            hit = (held.counted_at, tuple(found[0]))
            if fresh and cache is not None:  # kept until the table is ttl old, then read again
                cache.put(key, hit[0], hit[1])
    if hit is None and cache is not None and ttl > 0 and days > 1 and recount is not None and session is None:
        hit = cache.peek(key)
        if hit is not None and cache.claim(key):
            try:
                recount(partial(_count_again, cache, key, count, windows[:-1], now))
            except BaseException:  # not started (no thread to be had): the next reader may try again
                cache.release(key)
                raise
    live_since = None
    if hit is not None:
        counted_at, past = hit
        today, live_since = _today(count_today, today_key, cache, now, today_ttl)
        counts = [*(dict(c) for c in past), today]
    else:
        counted_at, counts = now, count(windows)
        if cache is not None and ttl > 0 and days > 1:
            cache.put(key, now, tuple(counts[:-1]))
            if today_ttl > 0:
                cache.put(today_key, now, (counts[-1], None))
    return DailyCounts(zone, chosen, tuple(DayCount(d, s, u, c) for (d, s, u), c in zip(windows, counts, strict=True)),
                       counted_at, cached=hit is not None, live_since=live_since)
