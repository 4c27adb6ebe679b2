"""The statements that count events per time window (the dashboard's chart, the daily report) and per time bucket
(the shared counts table): the same terms, so both count exactly what the feed shows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    CompoundSelect,
    Integer,
    Select,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from ..state import ActivityState, per_state_cache, state
from .events import ActivityFilter, branches
from .statements import ROLE, branch_columns, branch_where


@dataclass(frozen=True)
class DaySelect:
    """The statement counting one window, and the (model, action) each of its rows' ``term`` number counts for."""

    statement: CompoundSelect
    terms: tuple[tuple[str, str], ...]


def day_select(models: tuple[str, ...], actions: tuple[str, ...] = ()) -> DaySelect:
    """(term, n) rows counting every branch in one window (_day_select, kept per app and shape)."""
    return _day_select(state(), models, actions)


@dataclass(frozen=True)
class CountTerm:
    """One term of a count: ``sign`` times the rows matching ``conds`` whose ``column`` falls in the window; a
    (model, action)'s events are the sum of its terms. ``instant`` is ``column`` as an aware instant (a naive
    column read in its zone), for statements that group the rows by time."""

    model: str
    action: str
    sign: int
    column: Any
    conds: tuple[Any, ...]
    instant: Any


def count_terms(models: tuple[str, ...], actions: tuple[str, ...] = ()) -> list[CountTerm]:
    """The terms counting every branch of ``models`` and ``actions`` (empty: all), cheapest first.

    Each term is one ``count(*)`` over its own (timestamp, id) index range and nothing more. The ``updated`` branch
    is counted as the feed defines it, in two index-only-friendly terms: rows with ``updated_at > created_at`` (its
    partial index holds exactly these) minus those among them whose update was their deletion (``updated_at =
    deleted_at``, read from the small deleted index); the feed's ``deleted_at IS NULL OR updated_at != deleted_at``
    would read the table row of every update.
    """
    everything = ActivityFilter()
    terms: list[CountTerm] = []
    for name, cls, action in branches(ActivityFilter(models=models, actions=actions)):
        at = branch_columns(cls, action)[0]
        shown = cls.shown_time(ROLE[action])
        if action == "updated" and cls.exact and "deleted_at" in cls.columns:
            created, updated, deleted = cls.time("created_at"), cls.time("updated_at"), cls.time("deleted_at")
            terms.append(CountTerm(name, action, 1, at, (updated > created,), shown))
            terms.append(CountTerm(name, action, -1, deleted, (deleted.is_not(None), updated == deleted,
                                                                updated > created), cls.shown_time("deleted_at")))
        else:
            terms.append(CountTerm(name, action, 1, at, tuple(branch_where(cls, action, everything)), shown))
    return terms


@per_state_cache(maxsize=64)
def _day_select(st: ActivityState, models: tuple[str, ...], actions: tuple[str, ...] = ()) -> DaySelect:
    """(term, n) rows counting every branch in one window ``:lo <= at < :hi``, built once per shape.

    ``models`` and ``actions`` as in ActivityFilter (empty: all); a branch's events are the sum of the n of its
    terms (``terms[term]`` names the branch of each row; see count_terms). Bucketing rows with a CASE over 30 day
    edges cost 4x more on SQLite than a statement per day: 73 against 18.5 ms at 100k items (docs/PERFORMANCE.md).

    One window per statement, run once per window: a statement of all 30 days (360 counts) was one round trip but
    took SQLAlchemy 0.2-1.5 s to compile for every new engine; this one takes about 20 ms (docs/PERFORMANCE.md).
    """
    lo: BindParameter[datetime] = bindparam("lo")  # no type_: each comparison gives it its column's type
    hi: BindParameter[datetime] = bindparam("hi")
    parts: list[Select] = []
    terms = count_terms(models, actions)
    for k, t in enumerate(terms):
        n = (func.count() if t.sign > 0 else -func.count()).label("n")
        term = literal_column(str(k), Integer).label("term")  # a number we count, not input
        parts.append(select(term, n).where(*t.conds, t.column >= lo, t.column < hi))
    return DaySelect(union_all(*parts), tuple((t.model, t.action) for t in terms))


class epoch_bucket(FunctionElement):
    """The start of the ``seconds``-long bucket an instant falls in, as seconds since 1970 (UTC); the same
    integer on SQLite (UTC text) and PostgreSQL (timestamptz, or a naive column already read in its zone)."""

    type = BigInteger()
    inherit_cache = True
    # The bucket size is in the SQL text, so it is part of the statement's cache key.
    _traverse_internals = [*FunctionElement._traverse_internals,  # noqa: RUF012 - SQLAlchemy's declared type
                           ("seconds", InternalTraversal.dp_plain_obj)]

    def __init__(self, instant: Any, seconds: int) -> None:
        self.seconds = int(seconds)
        super().__init__(instant)


@compiles(epoch_bucket, "sqlite")
def _epoch_bucket_sqlite(element: epoch_bucket, compiler: Any, **kw: Any) -> str:
    instant = compiler.process(next(iter(element.clauses)), **kw)
    # Cut to whole seconds first: SQLite reads times to the millisecond, rounding, so 23:59:59.9999 became midnight.
    return f"((CAST(strftime('%s', substr({instant}, 1, 19)) AS INTEGER) / {element.seconds}) * {element.seconds})"


@compiles(epoch_bucket)
def _epoch_bucket_default(element: epoch_bucket, compiler: Any, **kw: Any) -> str:
    instant = compiler.process(next(iter(element.clauses)), **kw)
    return f"(CAST(floor(extract(epoch FROM {instant}) / {element.seconds}) AS BIGINT) * {element.seconds})"


def bucket_select(seconds: int) -> DaySelect:
    """(term, bucket, n) rows: every branch's events in ``:lo <= at < :hi``, per ``seconds``-long bucket."""
    return _bucket_select(state(), seconds)


@per_state_cache(maxsize=4)
def _bucket_select(st: ActivityState, seconds: int) -> DaySelect:
    lo: BindParameter[datetime] = bindparam("lo")
    hi: BindParameter[datetime] = bindparam("hi")
    parts: list[Select] = []
    terms = count_terms(())
    for k, t in enumerate(terms):
        bucket = epoch_bucket(t.instant, seconds)
        n = (func.count() if t.sign > 0 else -func.count()).label("n")
        term = literal_column(str(k), Integer).label("term")
        parts.append(select(term, bucket.label("bucket"), n).where(*t.conds, t.column >= lo, t.column < hi)
                     .group_by(bucket))
    return DaySelect(union_all(*parts), tuple((t.model, t.action) for t in terms))
