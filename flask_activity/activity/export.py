"""Events as formula-safe CSV text at close to the database's own speed (PostgreSQL COPY, SQLite plain rows)."""
from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Generator, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Select, String, and_, case, func, literal_column, or_, select, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, aliased

from .. import signals
from ..csvsafe import NOT_PLAIN, SUSPECT, CSVText, csv_cell, csv_row
from ..state import state
from ..types import UTC, UTCDateTime
from .events import ActivityFilter, branches, session_or_default
from .pgcopy import copy_rows
from .queries import queried
from .statements import Branch, export_select


def iter_event_csv(flt: ActivityFilter, chunk_size: int = 5000,
                   session: Session | None = None) -> Generator[CSVText, None, None]:
    """Every event matching ``flt`` as formula-safe CSV text (EVENT_COLUMNS, no header), newest first.

    The fast path of exports and the activity report: the same rows and order as ``iter_events``, and the
    same bytes csv_chunks writes for them, at close to the database's own CSV speed (docs/PERFORMANCE.md).
    One statement, read ``chunk_size`` rows at a time (memory holds one chunk). PostgreSQL writes the CSV
    itself (COPY .. TO STDOUT); elsewhere each row is one f-string. A row whose free text (actor email,
    label) a CSV writer would quote, or that starts with a formula trigger or whitespace, is handed to
    Python's csv writer and safe_cell, so the guard stays in one function.
    """
    started = time.perf_counter()
    session = session_or_default(session)
    chosen = list(branches(flt))
    if not chosen:
        return
    conn = session.connection()
    pieces = _copied_csv if conn.dialect.name == "postgresql" else _fetched_csv
    rows = 0
    try:
        for piece in pieces(conn, flt, chosen, chunk_size):
            rows += piece.rows
            yield piece
    finally:
        if signals.activity_queried.receivers:
            queried("stream", flt, rows, started)


class _ActorCells(dict[Any, str]):
    """actor id -> "id,email," as CSV cells (email formula-safe and quoted as needed); None -> ",,"."""

    def __missing__(self, actor: Any) -> str:
        return ",," if actor is None else f"{actor},,"  # an actor with no user row: no email


def _fetched_csv(conn: Connection, flt: ActivityFilter, chosen: list[Branch], chunk_size: int) -> Iterator[CSVText]:
    """Rows read through the driver's own cursor, each written as one f-string (SQLite, and any non-PostgreSQL)."""
    events, order = export_select(flt, chosen)
    sqlite = conn.dialect.name == "sqlite"
    at = type_coerce(events.c.at, String) if sqlite else events.c.at  # SQLite: the stored text, no datetimes made
    stmt = select(at, events.c.model, events.c.id, events.c.action, events.c.actor_id, events.c.label).order_by(*order)
    key = state().user_key
    # Keyed by the value as the driver's cursor returns it (a UUID key is text on SQLite), written as the key reads.
    raw = key if key.type.python_type is int else type_coerce(key, String)
    people = select(raw, key, state().person_column)
    actors = _ActorCells({stored: f"{pk},{csv_cell(name)}," for stored, pk, name in conn.execute(people)})
    iso = _sqlite_at_text(conn.dialect) if sqlite else _aware_at_text
    sql, params = _driver_statement(conn, stmt)
    cursor = _driver(conn).cursor()  # plain tuples: Row objects cost ~1 µs a row here
    try:
        cursor.execute(sql, params)
        while part := cursor.fetchmany(chunk_size):
            yield CSVText("".join([
                f"{iso(at)},{model},{pk},{action},{actors[actor]}"
                f"{csv_cell(label) if label and NOT_PLAIN.search(label) else label or ''}\r\n"
                for at, model, pk, action, actor, label in part]), len(part))
    finally:
        cursor.close()


def _driver(conn: Connection) -> Any:
    """The driver's own connection under ``conn`` (sqlite3 or psycopg), in the same transaction."""
    driver = conn.connection.driver_connection
    if driver is None:  # only once the connection was closed or invalidated
        raise RuntimeError("the database connection is closed")
    return driver


def _driver_statement(conn: Connection, stmt: Select) -> tuple[str, Any]:
    """The SQL text and processed parameters (in the driver's paramstyle) of ``stmt``, for the driver's own
    cursor: the export paths read rows (or COPY text) without SQLAlchemy's per-row work, in the same transaction."""
    state = stmt.compile(dialect=conn.dialect).construct_expanded_state()
    params = {k: (state.processors[k](v) if k in state.processors else v) for k, v in state.parameters.items()}
    if state.positiontup is not None:
        return state.statement, tuple(params[k] for k in state.positiontup)
    return state.statement, params


def _sqlite_at_text(dialect: Dialect) -> Callable[[str], str]:
    """SQLite's stored '2026-03-02 01:00:00.000000' (UTC) as datetime.isoformat() writes it:
    '2026-03-02T01:00:00+00:00'."""
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


def _copied_csv(conn: Connection, flt: ActivityFilter, chosen: list[Branch], chunk_size: int) -> Iterator[CSVText]:
    """PostgreSQL's COPY writes the CSV; rows marked "~" (free text that needs quoting of line breaks or the
    formula guard) are written by Python. Other rows hold no line break, so LF -> CRLF is exact for them."""
    events, order = export_select(flt, chosen)
    st = state()
    user: Any = aliased(st.user_model)
    person = getattr(user, st.person)
    utc = func.timezone("UTC", events.c.at, type_=DateTime)
    at_text = (func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS', type_=String)
               + case((func.date_trunc("second", utc) == utc, ""), else_=func.to_char(utc, ".US", type_=String))
               + "+00:00")  # isoformat(): microseconds only when there are some
    marked = case((or_(_handed_back(person), _handed_back(events.c.label)), "~"), else_="") + at_text
    stmt = (select(marked, events.c.model, events.c.id, events.c.action, events.c.actor_id,
                   func.nullif(person, "", type_=String), func.nullif(events.c.label, "", type_=String))
            .select_from(events).outerjoin(user, user.id == events.c.actor_id).order_by(*order))
    sql, params = _driver_statement(conn, stmt)  # psycopg merges the parameters into COPY on the client
    with _driver(conn).cursor() as cursor, \
            cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
        pieces: list[str] = []
        plain: list[Any] = []
        n = 0
        for row in copy_rows(copy):
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
