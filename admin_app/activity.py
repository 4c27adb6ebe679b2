"""Recent activity, derived by querying the audit columns. The one query layer.

Each audited model yields three event kinds:

* ``created`` at ``created_at`` by ``created_by``;
* ``updated`` at ``updated_at`` by ``updated_by`` when the row changed after creation
  and that change was not its deletion (``updated_at > created_at`` and not equal to
  ``deleted_at``);
* ``deleted`` at ``deleted_at`` by ``updated_by``.

Columns hold the *last* update of each row, not every intermediate change; the feed
says exactly what the columns can say.

Order is total and stable: time, then model, then id, then action, newest first.
Pagination is by keyset: every (model, action) branch is ordered and limited on its
own so the database walks its ``(timestamp, id)`` index, then the branches are merged
in Python so SQLite and PostgreSQL order identically (no collation differences).
"""
from __future__ import annotations

import csv
import functools
import heapq
import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import (DateTime, Integer, Select, String, and_, bindparam, cast, func, literal, literal_column, or_, select,
                        CompoundSelect, case, type_coerce, union_all)
from sqlalchemy.orm import Session, aliased

from . import signals
from .audit import AuditMixin, audited_models
from .csvsafe import NOT_PLAIN, SUSPECT, CSVText, csv_cell, csv_row
from .extensions import db
from .timefmt import parse_datetime, start_of_day
from .types import UTC, UTCDateTime

ACTIONS: tuple[str, ...] = ("created", "updated", "deleted")
_ACTION_RANK = {a: i for i, a in enumerate(ACTIONS)}
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
SYSTEM_ACTOR = "system"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a placeholder value while a statement is built


class BadActivityQuery(ValueError):
    """Input that cannot form a feed query; the message says what to fix."""


@dataclass(frozen=True)
class Event:
    at: datetime
    model: str
    id: int
    action: str
    actor_id: int | None
    actor_email: str | None
    label: str | None

    @property
    def key(self) -> tuple[datetime, str, int, int]:
        return (self.at, self.model, self.id, _ACTION_RANK[self.action])

    def to_json(self) -> dict[str, Any]:
        actor = {"id": self.actor_id, "email": self.actor_email} if self.actor_id is not None else None
        return {
            "at": self.at.isoformat(),
            "model": self.model,
            "id": self.id,
            "action": self.action,
            "actor": actor,
            "label": self.label,
        }


@dataclass(frozen=True)
class Cursor:
    """Position after which the next (older) page starts."""

    at: datetime
    model: str
    id: int
    action: str


@dataclass(frozen=True)
class ActivityFilter:
    since: datetime | None = None
    until: datetime | None = None
    models: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    actor_id: int | None = None
    system_actor: bool = False  # only writes with no recorded user (CLI, system)


@dataclass
class Page:
    events: list[Event]
    next_cursor: Cursor | None
    filters: ActivityFilter = field(default_factory=ActivityFilter)


def model_registry() -> dict[str, type[AuditMixin]]:
    """Feed name -> model class for every model that uses the audit mixin."""
    return {cls.__name__.lower(): cls for cls in audited_models()}


# --- input parsing (shared by web, JSON, CSV and CLI) ---------------------------------


def _values(args: Mapping[str, Any], name: str) -> list[str]:
    if hasattr(args, "getlist"):
        raw = args.getlist(name)  # type: ignore[attr-defined]
    else:
        raw = args.get(name) or []
        raw = [raw] if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in raw:
        out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out


def parse_filter(args: Mapping[str, Any], zone: ZoneInfo, session: Session | None = None) -> ActivityFilter:
    """Build a filter from request-like args (since, until, model, action, actor).

    Dates without an offset are read in ``zone``. Raises BadActivityQuery.
    """
    since = until = None
    for name in ("since", "until"):
        text = (args.get(name) or "").strip()
        if text:
            try:
                value = parse_datetime(text, zone)
            except ValueError as exc:
                raise BadActivityQuery(f"{name}: {exc}") from None
            if name == "since":
                since = value
            else:
                until = value
    if since and until and since >= until:
        raise BadActivityQuery("since must be earlier than until")

    known = model_registry()
    models = tuple(dict.fromkeys(v.lower() for v in _values(args, "model")))
    unknown = [m for m in models if m not in known]
    if unknown:
        raise BadActivityQuery(f"unknown model {unknown[0]!r}; choose from {', '.join(sorted(known))}")
    actions = tuple(dict.fromkeys(v.lower() for v in _values(args, "action")))
    bad = [a for a in actions if a not in ACTIONS]
    if bad:
        raise BadActivityQuery(f"unknown action {bad[0]!r}; choose from {', '.join(ACTIONS)}")

    actor_id, system_actor = None, False
    actor = (args.get("actor") or "").strip()
    if actor.lower() == SYSTEM_ACTOR:
        system_actor = True
    elif actor:
        actor_id = resolve_actor(actor, session)
    return ActivityFilter(since, until, models, actions, actor_id, system_actor)


MAX_ID = 2**31 - 1  # integer primary keys are 32-bit on PostgreSQL


def parse_id(value: Any) -> int | None:
    """A row id typed in a URL or form as an int, or None if it cannot be one."""
    text = str(value).strip()
    # Length first: int() refuses text of over 4,300 digits (a ValueError), and no id has more than 10.
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 10 or int(text) > MAX_ID:
        return None
    return int(text)


def resolve_actor(text: str, session: Session | None = None) -> int:
    """Find a user id by email (or numeric id); raise BadActivityQuery if there is none."""
    from .models import User

    if "\x00" in text:  # no email holds one, and PostgreSQL refuses it in a query (the web refuses it earlier)
        raise BadActivityQuery("actor: a NUL character is not allowed")
    session = session or db.session
    pk = parse_id(text)
    if pk is not None:
        found = session.scalar(select(User.id).where(User.id == pk))
    else:
        found = session.scalar(select(User.id).where(func.lower(User.email) == text.lower()))
    if found is None:
        raise BadActivityQuery(f"actor: no user {text!r}")
    return found


def parse_limit(value: str | int | None, default: int = DEFAULT_LIMIT) -> int:
    """Parse a page size in 1..MAX_LIMIT; raise BadActivityQuery otherwise."""
    if value in (None, ""):
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise BadActivityQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadActivityQuery(f"limit must be from 1 to {MAX_LIMIT}, not {limit}")
    return limit


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="activity-cursor")


def encode_cursor(cursor: Cursor) -> str:
    """An opaque, signed token for a cursor."""
    return _serializer().dumps([cursor.at.isoformat(), cursor.model, cursor.id, cursor.action])


def decode_cursor(token: str | None) -> Cursor | None:
    """Read a token from encode_cursor; a forged or malformed one raises BadActivityQuery."""
    if not token:
        return None
    try:
        at, model, pk, action = _serializer().loads(token)
        when = datetime.fromisoformat(at)
        # Signed, so only this app made it; checked anyway, so even a leaked key cannot make a position the
        # database refuses (an id past the column, a time that overflows in UTC: OverflowError).
        if when.tzinfo is None or type(pk) is not int or not 0 <= pk <= MAX_ID or action not in ACTIONS \
                or not isinstance(model, str):
            raise ValueError
        when = when.astimezone(UTC)
    except (BadSignature, ValueError, TypeError, OverflowError):
        raise BadActivityQuery("cursor is not valid; start again from the first page") from None
    return Cursor(when, model, pk, action)


# --- the query ----------------------------------------------------------------------


def _branch_columns(cls: type[AuditMixin], action: str) -> tuple[Any, Any]:
    """(time column, actor column) for a model and action."""
    if action == "created":
        return cls.created_at, cls.created_by_id
    if action == "updated":
        return cls.updated_at, cls.updated_by_id
    return cls.deleted_at, cls.updated_by_id


def _value(bound: bool, name: str, value: Any) -> Any:
    """The value itself, or a bind parameter named ``name`` when the statement is cached and reused."""
    return bindparam(name) if bound else value


def _branch_where(cls: type[AuditMixin], action: str, flt: ActivityFilter, bound: bool = False) -> list[Any]:
    at, actor = _branch_columns(cls, action)
    conds: list[Any] = []
    if action == "updated":  # the same terms as the partial index's WHERE, so the index serves the branch
        conds.append(cls.updated_at > cls.created_at)
        conds.append(or_(cls.deleted_at.is_(None), cls.updated_at != cls.deleted_at))
    elif action == "deleted":
        conds.append(cls.deleted_at.is_not(None))
    if flt.since is not None:
        conds.append(at >= _value(bound, "since", flt.since))
    if flt.until is not None:
        conds.append(at < _value(bound, "until", flt.until))
    if flt.actor_id is not None:
        conds.append(actor == _value(bound, "actor_id", flt.actor_id))
    elif flt.system_actor:
        conds.append(actor.is_(None))
    return conds


def _keyset(cls: type[AuditMixin], name: str, action: str, cursor: Cursor, bound: bool = False) -> Any:
    """Rows of this branch that sort strictly after ``cursor`` (all keys descending).

    Model and action are constant within a branch, so the tuple comparison reduces
    to a range on (time, id) that the composite index serves.
    """
    at = _branch_columns(cls, action)[0]
    c_at, c_id = _value(bound, "cursor_at", cursor.at), _value(bound, "cursor_id", cursor.id)
    if name < cursor.model:
        return at <= c_at
    if name > cursor.model:
        return at < c_at
    id_cmp = cls.id <= c_id if _ACTION_RANK[action] < _ACTION_RANK[cursor.action] else cls.id < c_id
    return and_(at <= c_at, or_(at < c_at, id_cmp))


def _branches(flt: ActivityFilter) -> Iterator[tuple[str, type[AuditMixin], str]]:
    for name, cls in model_registry().items():
        if flt.models and name not in flt.models:
            continue
        for action in ACTIONS:
            if flt.actions and action not in flt.actions:
                continue
            yield name, cls, action


def _branch_select(name: str, cls: type[AuditMixin], action: str, flt: ActivityFilter,
                   cursor: Cursor | None, limit: Any, bound: bool = False, model_rank: int = 0) -> Select:
    at, actor = _branch_columns(cls, action)
    conds = _branch_where(cls, action, flt, bound)
    if cursor is not None:
        conds.append(_keyset(cls, name, action, cursor, bound))
    label = getattr(cls, cls.__label_column__)
    return (
        select(
            literal(name, String).label("model"),
            cls.id.label("id"),
            at.label("at"),
            literal(action, String).label("action"),
            actor.label("actor_id"),
            cast(label, String).label("label"),
            literal_column(str(model_rank), Integer).label("model_rank"),  # the feed's order, as numbers
            literal_column(str(_ACTION_RANK[action]), Integer).label("action_rank"),
        )
        .where(*conds)
        .order_by(at.desc(), cls.id.desc())
        .limit(limit)
    )


@functools.lru_cache(maxsize=256)
def _page_select(branches: tuple[tuple[str, str], ...], since: bool, until: bool, actor: str | None,
                 cursor: tuple[str, str] | None) -> Select:
    """The page query for one shape of filter and cursor, built once; values are bind parameters.

    Each branch is ordered and limited on its own (an index range scan), then the database sorts
    the few rows left in the feed's total order and keeps ``:limit`` of them. Building the statement
    cost about ten times running it, so it is kept per shape (at most 256 shapes).
    """
    from .models import User

    registry = model_registry()
    flt = ActivityFilter(since=_EPOCH if since else None, until=_EPOCH if until else None,
                         actor_id=0 if actor == "id" else None, system_actor=actor == "system")
    at_cursor = Cursor(_EPOCH, cursor[0], 0, cursor[1]) if cursor else None
    ranks = {name: i for i, name in enumerate(sorted({n for n, _ in branches}))}  # model names sort as in Python
    limit = bindparam("limit", type_=Integer)
    parts = [select(_branch_select(n, registry[n], a, flt, at_cursor, limit, bound=True, model_rank=ranks[n])
                    .subquery()) for n, a in branches]
    merged = union_all(*parts).subquery("events")
    actor_user = aliased(User)
    return (select(merged, actor_user.email).outerjoin(actor_user, actor_user.id == merged.c.actor_id)
            .order_by(merged.c.at.desc(), merged.c.model_rank.desc(), merged.c.id.desc(), merged.c.action_rank.desc())
            .limit(limit))


def fetch_page(flt: ActivityFilter, limit: int = DEFAULT_LIMIT, cursor: Cursor | None = None,
               session: Session | None = None) -> Page:
    """One page of events, newest first, and the cursor for the next (older) page."""
    started = time.perf_counter()
    page = _fetch_page(flt, limit, cursor, session or db.session)
    if signals.activity_queried.receivers:
        _queried("page", flt, len(page.events), started)
    return page


def _queried(kind: str, flt: ActivityFilter, rows: int, started: float, sender: Any = None) -> None:
    signals.send(signals.activity_queried, sender, kind=kind, filters=flt, rows=rows,
                 duration=time.perf_counter() - started)


def _fetch_page(flt: ActivityFilter, limit: int, cursor: Cursor | None, session: Session) -> Page:
    """fetch_page without the hook: the benchmark's baseline for what an idle hook costs."""
    branches = tuple((n, a) for n, _, a in _branches(flt))
    if not branches:
        return Page([], None, flt)
    actor = "id" if flt.actor_id is not None else "system" if flt.system_actor else None
    stmt = _page_select(branches, flt.since is not None, flt.until is not None, actor,
                        (cursor.model, cursor.action) if cursor else None)
    params = {"limit": limit + 1, "since": flt.since, "until": flt.until, "actor_id": flt.actor_id,
              "cursor_at": cursor.at if cursor else None, "cursor_id": cursor.id if cursor else None}
    events = [
        Event(r.at, r.model, r.id, r.action, r.actor_id, r.email, r.label) for r in session.execute(stmt, params)
    ]
    events.sort(key=lambda e: e.key, reverse=True)  # already in this order; kept as the definition of it
    next_cursor = None
    if len(events) > limit:
        last = events[limit - 1]
        next_cursor = Cursor(last.at, last.model, last.id, last.action)
    return Page(events[:limit], next_cursor, flt)


def iter_events(flt: ActivityFilter, chunk_size: int = 1000, session: Session | None = None) -> Iterator[Event]:
    """Every event matching ``flt`` as Event objects, newest first, in one pass with flat memory.

    For code that wants events (a custom report's ``rows=``); CSV goes through iter_event_rows,
    which yields the same rows in the same order, several times faster, and is tested against this.
    One streamed, index-ordered cursor per (model, action) branch, merged in the feed's total order.
    """
    from .models import User

    started = time.perf_counter()
    session = session or db.session
    streams = []
    for name, cls, action in _branches(flt):
        actor = aliased(User)
        branch = _branch_select(name, cls, action, flt, None, None).subquery()
        stmt = (select(branch, actor.email).outerjoin(actor, actor.id == branch.c.actor_id)
                .order_by(branch.c.at.desc(), branch.c.id.desc()))
        rows = session.execute(stmt.execution_options(stream_results=True, yield_per=chunk_size))
        streams.append(Event(r.at, r.model, r.id, r.action, r.actor_id, r.email, r.label) for r in rows)
    merged = heapq.merge(*streams, key=lambda e: e.key, reverse=True)
    if not signals.activity_queried.receivers:
        yield from merged
        return
    sender, rows = signals.app_sender(), 0
    try:
        for event in merged:
            rows += 1
            yield event
    finally:  # also when the reader stops early (a client that went away)
        _queried("stream", flt, rows, started, sender)


EVENT_COLUMNS = ("at", "model", "id", "action", "actor_id", "actor_email", "label")


def iter_event_csv(flt: ActivityFilter, chunk_size: int = 5000,
                   session: Session | None = None) -> Iterator[CSVText]:
    """Every event matching ``flt`` as formula-safe CSV text (EVENT_COLUMNS, no header), newest first.

    The fast path of exports and the activity report: the same rows and order as ``iter_events``, and the
    same bytes csv_chunks writes for them, at close to the database's own CSV speed (docs/PERFORMANCE.md).
    One statement, read ``chunk_size`` rows at a time (memory holds one chunk). PostgreSQL writes the CSV
    itself (COPY .. TO STDOUT); elsewhere each row is one f-string. A row whose free text (actor email,
    label) a CSV writer would quote, or that starts with a formula trigger or whitespace, is handed to
    Python's csv writer and safe_cell, so the guard stays in one function.
    """
    started = time.perf_counter()
    session = session or db.session
    branches = list(_branches(flt))
    if not branches:
        return
    conn = session.connection()
    pieces = _copied_csv if conn.dialect.name == "postgresql" else _fetched_csv
    rows = 0
    try:
        for piece in pieces(conn, flt, branches, chunk_size):
            rows += piece.rows
            yield piece
    finally:
        if signals.activity_queried.receivers:
            _queried("stream", flt, rows, started)


def _export_events(flt: ActivityFilter, branches: list[tuple[str, type[AuditMixin], str]]) -> tuple[Any, list[Any]]:
    """(every branch as one UNION ALL subquery, the feed's total order over it)."""
    names = sorted({n for n, _, _ in branches})
    parts = [_branch_select(n, c, a, flt, None, None, model_rank=names.index(n)).order_by(None) for n, c, a in branches]
    events = union_all(*parts).subquery("events")
    return events, [events.c.at.desc(), events.c.model_rank.desc(), events.c.id.desc(), events.c.action_rank.desc()]


class _ActorCells(dict):
    """actor id -> "id,email," as CSV cells (email formula-safe and quoted as needed); None -> ",,"."""

    def __missing__(self, actor: Any) -> str:
        return ",," if actor is None else f"{actor},,"  # an actor with no user row: no email


def _fetched_csv(conn: Any, flt: ActivityFilter, branches: list[tuple[str, type[AuditMixin], str]],
                 chunk_size: int) -> Iterator[CSVText]:
    from .models import User

    events, order = _export_events(flt, branches)
    sqlite = conn.dialect.name == "sqlite"
    at = type_coerce(events.c.at, String) if sqlite else events.c.at  # SQLite: the stored text, no datetimes made
    stmt = select(at, events.c.model, events.c.id, events.c.action, events.c.actor_id, events.c.label).order_by(*order)
    actors = _ActorCells({pk: f"{pk},{csv_cell(email)}," for pk, email in conn.execute(select(User.id, User.email))})
    iso = _sqlite_at_text(conn.dialect) if sqlite else _aware_at_text
    sql, params = _driver_statement(conn, stmt)
    cursor = conn.connection.driver_connection.cursor()  # plain tuples: Row objects cost ~1 µs a row here
    try:
        cursor.execute(sql, params)
        while part := cursor.fetchmany(chunk_size):
            yield CSVText("".join([
                f"{iso(at)},{model},{pk},{action},{actors[actor]}"
                f"{csv_cell(label) if label and NOT_PLAIN.search(label) else label or ''}\r\n"
                for at, model, pk, action, actor, label in part]), len(part))
    finally:
        cursor.close()


def _driver_statement(conn: Any, stmt: Select) -> tuple[str, Any]:
    """The SQL text and processed parameters (in the driver's paramstyle) of ``stmt``, for the driver's own
    cursor: the export paths read rows (or COPY text) without SQLAlchemy's per-row work, in the same transaction."""
    state = stmt.compile(dialect=conn.dialect).construct_expanded_state()
    params = {k: (state.processors[k](v) if k in state.processors else v) for k, v in state.parameters.items()}
    if state.positiontup is not None:
        return state.statement, tuple(params[k] for k in state.positiontup)
    return state.statement, params


def _sqlite_at_text(dialect: Any) -> Callable[[str], str]:
    """SQLite's stored '2026-03-02 01:00:00.000000' (UTC) as datetime.isoformat() writes it: '2026-03-02T01:00:00+00:00'."""
    read = UTCDateTime().result_processor(dialect, None)

    def iso(at: str) -> str:
        if len(at) == 26 and at[10] == " ":  # SQLITE_FORMAT, as this app writes it
            return f"{at[:10]}T{at[11:19]}+00:00" if at.endswith(".000000") else f"{at[:10]}T{at[11:]}+00:00"
        return _aware_at_text(read(at))  # text some other writer left (an offset, no microseconds)

    return iso


def _aware_at_text(value: datetime) -> str:
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat()


# First characters a row is handed back to Python for (see NOT_PLAIN): PostgreSQL's ascii() gives the code point.
_HANDED_BACK = ", ".join(str(c) for c in sorted({ord(ch) for ch in SUSPECT}) if c > 32)


def _handed_back(text: Any) -> Any:
    first = func.ascii(text)
    return and_(text.is_not(None), or_(first <= 32, first.op("IN")(literal_column(f"({_HANDED_BACK})")),
                                      func.strpos(text, "\r") > 0, func.strpos(text, "\n") > 0))


def _copied_csv(conn: Any, flt: ActivityFilter, branches: list[tuple[str, type[AuditMixin], str]],
                chunk_size: int) -> Iterator[CSVText]:
    """PostgreSQL's COPY writes the CSV; rows marked "~" (free text that needs quoting of line breaks or the
    formula guard) are written by Python. Other rows hold no line break, so LF -> CRLF is exact for them."""
    from .models import User

    events, order = _export_events(flt, branches)
    user = aliased(User)
    utc = func.timezone("UTC", events.c.at, type_=DateTime)
    at_text = (func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS', type_=String)
               + case((func.date_trunc("second", utc) == utc, ""), else_=func.to_char(utc, ".US", type_=String))
               + "+00:00")  # isoformat(): microseconds only when there are some
    marked = case((or_(_handed_back(user.email), _handed_back(events.c.label)), "~"), else_="") + at_text
    stmt = (select(marked, events.c.model, events.c.id, events.c.action, events.c.actor_id,
                   func.nullif(user.email, "", type_=String), func.nullif(events.c.label, "", type_=String))
            .select_from(events).outerjoin(user, user.id == events.c.actor_id).order_by(*order))
    sql, params = _driver_statement(conn, stmt)  # psycopg merges the parameters into COPY on the client
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
        pieces: list[str] = []
        plain: list[Any] = []
        n = 0
        for row in _copy_rows(copy):
            if row[0] == 126:  # "~"
                if plain:
                    pieces.append(b"".join(plain).replace(b"\n", b"\r\n").decode())
                    plain = []
                fields = next(csv.reader(io.StringIO(bytes(row).decode(), newline="")))
                fields[0] = fields[0][1:]
                pieces.append(csv_row(fields))
            else:
                plain.append(row)
            n += 1
            if n == chunk_size:
                pieces.append(b"".join(plain).replace(b"\n", b"\r\n").decode())
                yield CSVText("".join(pieces), n)
                pieces, plain, n = [], [], 0
        if n:
            pieces.append(b"".join(plain).replace(b"\n", b"\r\n").decode())
            yield CSVText("".join(pieces), n)


def _copy_rows(copy: Any) -> Iterator[Any]:
    """The rows of a COPY TO, as psycopg's ``for row in copy`` yields them, at a fraction of its cost per row.

    psycopg reads each row through its generator and wait() machinery (about 2 µs a row, most of an export's
    time). Here rows libpq has already received are taken straight from it without blocking
    (``get_copy_data(1)``); when none is buffered, psycopg's own read() waits for the socket (and, should the
    data end there, fetches the statement's result and raises its error). When the end is read here, the
    statement's result is fetched here too and a server error (a statement timeout, say) raised as psycopg would.
    """
    pgconn = copy.connection.pgconn
    while True:
        nbytes, data = pgconn.get_copy_data(1)
        if nbytes > 0:
            yield data
        elif nbytes == 0:
            if not (data := copy.read()):
                return
            yield data
        else:
            _end_copy(pgconn)
            return


def _end_copy(pgconn: Any) -> None:
    """Read the result that follows the end of COPY data; raise the server's error, typed, if it failed."""
    import psycopg
    from psycopg import pq

    results = []
    while (result := pgconn.get_result()) is not None:
        results.append(result)
    failed = next((r for r in results if r.status != pq.ExecStatus.COMMAND_OK), None)
    if failed is not None:
        sqlstate = failed.error_field(pq.DiagnosticField.SQLSTATE)
        error = psycopg.errors.lookup(sqlstate.decode()) if sqlstate else psycopg.DatabaseError
        raise error((failed.error_message or b"COPY failed").decode(errors="replace").strip())


def count_events(flt: ActivityFilter, session: Session | None = None,
                 cap: int | None = None) -> dict[tuple[str, str], int]:
    """Number of events per (model, action) in one round trip; zero counts included.

    With ``cap``, each branch stops counting after cap + 1 rows (a count above ``cap`` means "more than
    cap"): the cost is bounded however busy the window was, which is what a page that loads often needs.
    """
    started = time.perf_counter()
    session = session or db.session
    counts = {(n, a): 0 for n, _, a in _branches(flt)}
    parts = []
    for n, c, a in _branches(flt):
        rows: Any = c
        if cap is not None:
            rows = select(literal(1).label("one")).select_from(c).where(*_branch_where(c, a, flt)) \
                .limit(cap + 1).subquery()
        parts.append(select(literal(n, String).label("model"), literal(a, String).label("action"),
                            func.count().label("n")).select_from(rows)
                     .where(*(() if cap is not None else _branch_where(c, a, flt))))
    if parts:
        for row in session.execute(union_all(*parts)):
            counts[(row.model, row.action)] = int(row.n)
    if signals.activity_queried.receivers:
        _queried("count", flt, len(counts), started)
    return counts


def page_for(args: Mapping[str, Any], zone: ZoneInfo, default_limit: int = DEFAULT_LIMIT) -> Page:
    """Parse filters, limit and cursor from request-like args and fetch that page."""
    flt = parse_filter(args, zone)
    limit = parse_limit(args.get("limit"), default_limit)
    return fetch_page(flt, limit, decode_cursor(args.get("cursor")))


def filter_args(flt: ActivityFilter) -> dict[str, Sequence[str] | str]:
    """Query-string arguments that reproduce ``flt`` exactly (for links such as Older and CSV).

    Times keep full precision and their offset, so a link never widens or shifts the window.
    """
    out: dict[str, Sequence[str] | str] = {}
    if flt.since:
        out["since"] = flt.since.isoformat()
    if flt.until:
        out["until"] = flt.until.isoformat()
    if flt.models:
        out["model"] = list(flt.models)
    if flt.actions:
        out["action"] = list(flt.actions)
    if flt.system_actor:
        out["actor"] = SYSTEM_ACTOR
    elif flt.actor_id is not None:
        out["actor"] = str(flt.actor_id)
    return out


def actor_summary(flt: ActivityFilter, session: Session | None = None) -> list[dict[str, Any]]:
    """Per actor and action: number of events and first/last time, one GROUP BY per branch in one round trip."""
    from .models import User

    started = time.perf_counter()
    session = session or db.session
    parts = []
    for name, cls, action in _branches(flt):
        at, actor = _branch_columns(cls, action)
        parts.append(select(actor.label("actor_id"), literal(action, String).label("action"),
                            func.count().label("n"), func.min(at).label("first_at"), func.max(at).label("last_at"))
                     .where(*_branch_where(cls, action, flt)).group_by(actor))
    if not parts:
        return []
    merged = union_all(*parts).subquery("per_branch")
    user = aliased(User)
    stmt = select(merged, user.email).outerjoin(user, user.id == merged.c.actor_id)
    lines = [dict(r._mapping) for r in session.execute(stmt)]
    if signals.activity_queried.receivers:
        _queried("summary", flt, len(lines), started)
    return lines


# --- events per local day (the dashboard's chart) ----------------------------------------------------------------

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
    cached: bool = False  # past days came from the cache; today is always counted live

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


@functools.lru_cache(maxsize=64)
def _day_select(models: tuple[str, ...]) -> CompoundSelect:
    """One statement counting every (model, action) branch in one window ``:lo <= at < :hi``, built once per shape.

    Each branch is one ``count(*)`` over its own (timestamp, id) index range and nothing more (bucketing rows with a
    CASE over 30 day edges cost 4x more on SQLite: 73 against 18.5 ms at 100k items; docs/PERFORMANCE.md). The ``updated`` branch is
    counted as the feed defines it, in two index-only-friendly terms: rows with ``updated_at > created_at`` (its
    partial index holds exactly these) minus those among them whose update was their deletion (``updated_at =
    deleted_at``, read from the small deleted index); the feed's ``deleted_at IS NULL OR updated_at != deleted_at``
    would read the table row of every update.

    One window per statement, run once per day: a statement of all 30 days (360 counts) was one round trip but took
    SQLAlchemy 0.2-1.5 s to compile for every new engine; this one takes about 20 ms (docs/PERFORMANCE.md).
    """
    everything = ActivityFilter()
    lo, hi = bindparam("lo"), bindparam("hi")
    terms = []
    for _name, cls, action in _branches(ActivityFilter(models=models)):
        at = _branch_columns(cls, action)[0]
        if action == "updated":
            wheres = [(1, at, (cls.updated_at > cls.created_at,)),
                      (-1, cls.deleted_at, (cls.deleted_at.is_not(None), cls.updated_at == cls.deleted_at,
                                            cls.updated_at > cls.created_at))]
        else:
            wheres = [(1, at, tuple(_branch_where(cls, action, everything)))]
        for sign, column, conds in wheres:
            n = (func.count() if sign > 0 else -func.count()).label("n")
            terms.append(select(literal(action, String).label("action"), n).where(*conds, column >= lo, column < hi))
    return union_all(*terms)


def _count_days(models: tuple[str, ...], windows: Sequence[tuple[date, datetime, datetime]],
                session: Session) -> list[dict[str, int]]:
    """Events per action for each window (consecutive, oldest first): one statement per window."""
    out: list[dict[str, int]] = [dict.fromkeys(ACTIONS, 0) for _ in windows]
    if not any(True for _ in _branches(ActivityFilter(models=models))):
        return out
    statement = _day_select(models)
    for k, (_, since, until) in enumerate(windows):
        for row in session.execute(statement, {"lo": since, "hi": until}):
            out[k][row.action] += int(row.n)
    return out


class DayCountCache:
    """Counts of completed past days per (zone, models, days, today), kept for a short time in this process.

    A past day's count can still change (a later update or deletion moves an event out of it), so it is only
    kept ``ttl`` seconds; today is never cached. Bounded to ``size`` keys, oldest dropped first; thread-safe.
    """

    def __init__(self, size: int = 128) -> None:
        self._entries: OrderedDict[tuple[Any, ...], tuple[datetime, tuple[dict[str, int], ...]]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def get(self, key: tuple[Any, ...], now: datetime,
            ttl: float) -> tuple[datetime, tuple[dict[str, int], ...]] | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        age = (now - entry[0]).total_seconds()
        return entry if 0 <= age < ttl else None  # a clock that went back counts as expired

    def put(self, key: tuple[Any, ...], counted_at: datetime, past: tuple[dict[str, int], ...]) -> None:
        with self._lock:
            self._entries[key] = (counted_at, past)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def app_day_cache() -> DayCountCache:
    """The current app's cache of past days' counts (one per app, so two apps never share numbers)."""
    return current_app.extensions.setdefault("activity_day_counts", DayCountCache())


def daily_counts(days: int, zone: ZoneInfo, now: datetime, models: Sequence[str] | None = None,
                 session: Session | None = None, cache: DayCountCache | None = None, ttl: float = 0) -> DailyCounts:
    """Events per action for each of the last ``days`` calendar days in ``zone`` (today included), oldest first.

    A day counts exactly what the feed shows for ``since=D 00:00, until=D+1 00:00`` in ``zone`` (the same
    branches, conditions and half-open window), for ``models`` (None or empty: all); one statement per day. With a
    ``cache`` and ``ttl`` > 0, past days counted less than ``ttl`` seconds ago are reused and only today is
    counted, so the cost no longer grows with the busiest month. Raises BadActivityQuery for an unknown model.
    """
    known = model_registry()
    chosen = tuple(sorted(dict.fromkeys(m.lower() for m in models or ())))
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise BadActivityQuery(f"unknown model {unknown[0]!r}; choose from {', '.join(sorted(known))}")
    session = session or db.session
    windows = day_windows(days, zone, now)
    key = (str(zone), chosen, days, windows[-1][0])
    hit = cache.get(key, now, ttl) if cache is not None and ttl > 0 and days > 1 else None
    if hit is not None:
        counted_at, past = hit
        counts = [*(dict(c) for c in past), *_count_days(chosen, windows[-1:], session)]
    else:
        counted_at, counts = now, _count_days(chosen, windows, session)
        if cache is not None and ttl > 0 and days > 1:
            cache.put(key, now, tuple(counts[:-1]))
    return DailyCounts(zone, chosen, tuple(DayCount(d, s, u, c) for (d, s, u), c in zip(windows, counts)),
                       counted_at, cached=hit is not None)
