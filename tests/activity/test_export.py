"""Formula-safe CSV: safe_cell, csv_lines, the activity export and the model export."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import request_finished
from sqlalchemy import func, insert, select

from admin_app.extensions import db
from admin_app.models import Bucketlist, Item
from flask_activity import activity
from flask_activity.activity import ACTIONS, pgcopy
from flask_activity.audit import acting_as
from flask_activity.csvsafe import FORMULA_TRIGGERS, IGNORED, SUSPECT, chunked, csv_chunks, csv_lines, safe_cell
from flask_activity.types import UTC
from tests import factories

EVIL_TITLE = '=cmd|" /C calc"!A0'
EVIL_NAME = "@SUM(1)"
EVIL_EMAIL = "=evil@example.com"
# What spreadsheets evaluate (OWASP CSV injection), spelled out here rather than imported from the code under test.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
HEADER = ["at", "model", "id", "action", "actor_id", "actor_email", "label"]


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_no_formula_cells(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(TRIGGERS) or NUMBER.match(cell), (cell, row)


# --- safe_cell -------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "=1+1", "+cmd", "-cmd", "@SUM(A1)", "\t=1", "\r=1", "\n=1", '=HYPERLINK("http://x")',
    "-1+1", "+1 (555) 0100", "-", "=",
])
def test_safe_cell_prefixes_formula_text_with_an_apostrophe(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["-12", "-3.5", "+4", "1e5", "-.5", "-1e-3", "plain text", "", "a=b", "x@y.io"])
def test_safe_cell_leaves_numbers_and_plain_text_alone(text):
    assert safe_cell(text) == text


@pytest.mark.parametrize("value", [0, 42, -7, 3.25, -0.5, True, False])
def test_safe_cell_leaves_numeric_values_unchanged(value):
    out = safe_cell(value)
    assert out == value and type(out) is type(value)


def test_safe_cell_writes_none_as_empty():
    assert safe_cell(None) == ""


def test_safe_cell_writes_aware_datetimes_as_iso_utc():
    assert safe_cell(datetime(2025, 6, 1, 12, 30, 5, tzinfo=UTC)) == "2025-06-01T12:30:05+00:00"


def test_safe_cell_converts_other_zones_to_utc():
    paris = datetime(2025, 6, 1, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))  # CEST, UTC+2
    assert safe_cell(paris) == "2025-06-01T12:00:00+00:00"
    assert safe_cell(datetime(2025, 1, 1, 0, 30, tzinfo=ZoneInfo("America/New_York"))) == "2025-01-01T05:30:00+00:00"


def test_safe_cell_writes_dates_as_iso():
    assert safe_cell(date(2025, 2, 3)) == "2025-02-03"


# --- csv_lines -------------------------------------------------------------------------


def test_csv_lines_round_trip_with_header_first_and_crlf():
    rows = [
        (1, 'say "hi", then leave', "plain"),
        (-2, "comma,inside", "multi\nline"),
        (3, EVIL_TITLE, "-12"),
        (4, "@SUM(A1)", None),
        (5, "+cmd", "\t=1"),
        (6, "-2+3", "-.5"),
    ]
    text = "".join(csv_lines(["id", "text", "=other"], rows))
    assert text.endswith("\r\n")
    assert text.count("\r\n") == len(rows) + 1  # one CRLF per record; embedded newlines stay inside quotes
    parsed = parse(text)
    assert parsed[0] == ["id", "text", "'=other"]
    assert parsed[1:] == [
        ["1", 'say "hi", then leave', "plain"],
        ["-2", "comma,inside", "multi\nline"],
        ["3", "'" + EVIL_TITLE, "-12"],
        ["4", "'@SUM(A1)", ""],
        ["5", "'+cmd", "'\t=1"],
        ["6", "'-2+3", "-.5"],
    ]
    assert_no_formula_cells(parsed)


def test_csv_lines_yields_one_chunk_per_chunk_rows():
    rows = [(i, f"row {i}") for i in range(35)]
    chunks = list(csv_lines(["n", "text"], rows, chunk_rows=10))
    assert len(chunks) == 4
    assert all(c.endswith("\r\n") for c in chunks)
    parsed = parse("".join(chunks))
    assert parsed[0] == ["n", "text"]
    assert parsed[1:] == [[str(i), f"row {i}"] for i in range(35)]
    assert len(parse(chunks[0])) == 11 and len(parse(chunks[-1])) == 5


def test_csv_lines_has_no_empty_trailing_chunk_and_always_a_header():
    assert len(list(csv_lines(["n"], [(i,) for i in range(30)], chunk_rows=10))) == 3
    assert list(csv_lines(["a", "b"], [])) == ["a,b\r\n"]


def test_csv_lines_pulls_rows_lazily():
    pulled = []

    def rows():
        for i in range(25):
            pulled.append(i)
            yield (i,)

    chunks = csv_lines(["n"], rows(), chunk_rows=10)
    next(chunks)
    assert len(pulled) == 10


# --- the activity export, end to end -----------------------------------------------------------


@pytest.fixture
def evil_data(app, make_user, viewer_user):
    """An item with a formula title, created by a user whose email and display name are formulas."""
    evil = make_user(EVIL_EMAIL, "admin")
    evil.display_name = EVIL_NAME
    db.session.commit()
    with acting_as(evil.id):
        bl = Bucketlist(title="Plans", owner=evil)
        db.session.add(bl)
        db.session.commit()
        item = Item(title=EVIL_TITLE, bucketlist=bl)
        db.session.add(item)
        db.session.commit()
    return evil, item


def test_activity_export_is_a_formula_safe_csv_attachment(viewer_client, evil_data):
    evil, item = evil_data
    r = viewer_client.get("/admin/activity/export.csv", buffered=True)
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".csv" in disposition
    rows = parse(r.get_data(as_text=True))
    assert rows[0] == HEADER
    body = rows[1:]
    assert len(body) == 5  # 3 users created, 1 bucketlist, 1 item
    for row in body:
        at = datetime.fromisoformat(row[0])
        assert row[0].endswith("+00:00") and at.utcoffset() == timedelta(0)
    item_row = next(row for row in body if row[1] == "item")
    assert item_row[1:] == ["item", str(item.id), "created", str(evil.id), "'" + EVIL_EMAIL, "'" + EVIL_TITLE]
    assert_no_formula_cells(rows)


def test_activity_export_applies_filters(viewer_client, evil_data):
    r = viewer_client.get("/admin/activity/export.csv?model=item&action=created", buffered=True)
    assert r.status_code == 200
    rows = parse(r.get_data(as_text=True))
    assert rows[0] == HEADER
    assert [(row[1], row[3]) for row in rows[1:]] == [("item", "created")]

    r = viewer_client.get("/admin/activity/export.csv?model=user&model=bucketlist", buffered=True)
    assert sorted(row[1] for row in parse(r.get_data(as_text=True))[1:]) == ["bucketlist", "user", "user", "user"]


@pytest.mark.parametrize(("query", "mention"), [
    ("since=notadate", "notadate"),
    ("model=nope", "nope"),
    ("action=touched", "touched"),
    ("since=2025-02-01&until=2025-01-01", "since"),
])
def test_activity_export_refuses_bad_filters_with_400(viewer_client, query, mention):
    r = viewer_client.get(f"/admin/activity/export.csv?{query}", buffered=True)
    assert r.status_code == 400
    assert r.mimetype == "text/html"  # the error page, saying what to fix
    assert "Content-Disposition" not in r.headers
    text = r.get_data(as_text=True)
    assert "<h1 class=\"h4\">400</h1>" in text and mention in text


def _bulk_history(owner_id: int, n: int) -> set[tuple[str, int, str]]:
    """n items in one executemany, three per second (ties across chunk edges); return expected events."""
    base = datetime(2025, 1, 1, tzinfo=UTC)
    bl_id = db.session.execute(
        insert(Bucketlist).returning(Bucketlist.id),
        [dict(title="Bulk", description="", owner_id=owner_id, created_at=base, updated_at=base)],
    ).scalar_one()
    factories.history_items(bl_id, n, base, timedelta(seconds=1), 4, 10, timedelta(minutes=5),
                            timedelta(minutes=7), per_step=3)
    expected = {("bucketlist", bl_id, "created")}
    for item_id, created, updated, deleted in db.session.execute(
            db.select(Item.id, Item.created_at, Item.updated_at, Item.deleted_at)):
        expected.add(("item", item_id, "created"))
        if updated > created and updated != deleted:
            expected.add(("item", item_id, "updated"))
        if deleted is not None:
            expected.add(("item", item_id, "deleted"))
    return expected


def test_activity_export_streams_every_event_once_newest_first(app, viewer_client, viewer_user, monkeypatch):
    app.config["EXPORT_CHUNK_SIZE"] = 100
    expected = _bulk_history(viewer_user.id, 1050)
    expected.add(("user", viewer_user.id, "created"))
    assert len(expected) > 1050

    # The order of things on the server: events read from the database, the view returning, body chunks leaving.
    log: list[tuple[str, int]] = []
    real_iter = activity.iter_event_csv
    sizes: list[int] = []

    def counting_iter(flt, chunk_size=5000, session=None):
        sizes.append(chunk_size)
        for chunk in real_iter(flt, chunk_size, session):
            log.extend([("event", 0)] * len(chunk))
            yield chunk

    def fetches() -> int:
        return sum(1 for kind, _ in log if kind == "event")

    inner = app.wsgi_app

    def recording_wsgi(environ, start_response):
        body = inner(environ, start_response)
        log.append(("returned", fetches()))
        try:
            for chunk in body:
                log.append(("chunk", fetches()))
                yield chunk
        finally:
            getattr(body, "close", lambda: None)()

    flask_responses = []

    def on_finished(sender, response, **extra):
        flask_responses.append(response)

    monkeypatch.setattr(activity, "iter_event_csv", counting_iter)
    monkeypatch.setattr(app, "wsgi_app", recording_wsgi)
    with request_finished.connected_to(on_finished, app):
        r = viewer_client.get("/admin/activity/export.csv", buffered=True)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.get_data(as_text=True)

    assert [resp.is_streamed for resp in flask_responses] == [True]
    assert "Content-Length" not in r.headers
    assert sizes == [100]  # the database is read in EXPORT_CHUNK_SIZE batches
    assert fetches() == len(expected)
    returned = next(n for kind, n in log if kind == "returned")
    chunks = [n for kind, n in log if kind == "chunk"]
    assert returned == 0, "the view read the feed before returning the response"
    assert chunks[0] <= 101, "the first chunk was sent only after more than one chunk of rows was read"
    assert len(chunks) >= len(expected) // 100

    rows = parse(text)
    assert rows[0] == HEADER
    body = rows[1:]
    assert len(body) == len(expected)
    seen = [(row[1], int(row[2]), row[3]) for row in body]
    assert len(set(seen)) == len(seen), "duplicate events"
    assert set(seen) == expected
    keys = [(datetime.fromisoformat(row[0]), row[1], int(row[2]), ACTIONS.index(row[3])) for row in body]
    assert keys == sorted(keys, reverse=True)


# --- the model exports -------------------------------------------------------------------


def test_item_model_export_neutralises_formula_titles(viewer_client, evil_data):
    _, item = evil_data
    r = viewer_client.get("/admin/items/export/csv/", buffered=True)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    rows = parse(r.get_data(as_text=True))
    header = rows[0]
    assert "Title" in header
    row = next(row for row in rows[1:] if row[header.index("Id")] == str(item.id))
    assert row[header.index("Title")] == "'" + EVIL_TITLE
    created = row[header.index("Created At")]
    assert created.endswith("+00:00") and datetime.fromisoformat(created) == item.created_at
    assert_no_formula_cells(rows)


def test_user_model_export_neutralises_formula_names_and_omits_password_hashes(admin_client, evil_data):
    evil, _ = evil_data
    r = admin_client.get("/admin/users/export/csv/", buffered=True)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.get_data(as_text=True)
    assert "pbkdf2" not in text and "scrypt" not in text
    rows = parse(text)
    header = rows[0]
    assert not any("password" in h.lower() for h in header)
    row = next(row for row in rows[1:] if row[header.index("Id")] == str(evil.id))
    assert row[header.index("Display Name")] == "'" + EVIL_NAME
    assert row[header.index("Email")] == "'" + EVIL_EMAIL
    assert_no_formula_cells(rows)


@pytest.mark.parametrize("text", [" =1+1", "  @SUM(A1)", "\u00a0=1", "\uff1dSUM(A1)", "\uff0b1", "-1\n"])
def test_formula_behind_spaces_or_in_full_width_is_neutralised(text):
    assert safe_cell(text) == "'" + text


# --- the fast path: plain rows straight from the driver --------------------------------------


def test_suspect_prefixes_cover_every_trigger_whitespace_and_invisible_format_character():
    import sys
    import unicodedata

    from flask_activity.csvsafe import FORMAT_CHARACTERS, FORMULA_TRIGGERS, SUSPECT
    spaces = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    invisible = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    assert set(FORMAT_CHARACTERS) == invisible  # U+200B, U+FEFF, U+2060 and the rest of category Cf
    assert set(SUSPECT) == spaces | invisible | set(FORMULA_TRIGGERS)


# Free text a CSV writer must quote, or the formula guard must see: every suspect first character
# (each trigger and each whitespace character), numbers (left alone, Unicode digits included), line breaks.
NASTY_LABELS = [ch + "x" for ch in SUSPECT] + [ch + "=x" for ch in IGNORED] + [
    "-12", "+3.5e2", "-\u0663", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "crlf\r\nend", "\\.", "tab\tinside",
    "", "emoji \U0001F600", "caf\u00e9", "plain", "=1,2", ' "=q"', "\ufeff=bom", "x" * 200]


def test_event_csv_is_byte_for_byte_what_csv_chunks_writes_for_the_feed_events(app, make_user):
    evil = make_user("=cmd@example.com", "admin")
    quoted = make_user('"q,uote"@example.com', "admin")
    base = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
    with acting_as(evil.id):
        bl = Bucketlist(title="+SUM(1)", owner=evil)
        db.session.add(bl)
        db.session.commit()
    for i, title in enumerate(NASTY_LABELS):
        # whole seconds (isoformat drops the fraction), 0.1 s (it keeps all six digits), and equal timestamps
        at = base + timedelta(microseconds=(0, 100000, 123456)[i % 3]) + timedelta(seconds=i // 2)
        with acting_as((evil.id, quoted.id, None)[i % 3]):
            db.session.add(Item(title=title, bucketlist=bl, created_at=at, updated_at=at))
    db.session.commit()
    it = db.session.scalars(select(Item).where(Item.title == "plain")).one()
    with acting_as(quoted.id):
        it.title = "edited, \"quoted\""
        db.session.commit()
        it.soft_delete()
        db.session.commit()

    filters = (activity.ActivityFilter(), activity.ActivityFilter(models=("item",), actions=("created",)),
               activity.ActivityFilter(since=base, actor_id=evil.id), activity.ActivityFilter(system_actor=True),
               activity.ActivityFilter(until=base))
    for flt in filters:
        events = [(e.at.isoformat(), e.model, e.id, e.action, e.actor_id, e.actor_email, e.label)
                  for e in activity.iter_events(flt)]
        expected = "".join(csv_chunks(activity.EVENT_COLUMNS, chunked(events, 3)))  # every cell through safe_cell
        pieces = list(activity.iter_event_csv(flt, chunk_size=4))
        got = "".join(csv_chunks(activity.EVENT_COLUMNS, pieces))
        assert got == expected, flt
        assert [len(p) for p in pieces] == [min(4, len(events) - i) for i in range(0, len(events), 4)]
    rows = parse(got)
    assert len(parse(expected)) == len(events) + 1
    everything = parse("".join(csv_chunks(activity.EVENT_COLUMNS, activity.iter_event_csv(filters[0]))))
    assert_no_formula_cells(everything)
    labels = {row[6] for row in everything[1:]}
    assert {"'" + ch + "=x" for ch in IGNORED} <= labels and {"'" + ch + "x" for ch in FORMULA_TRIGGERS} <= labels
    assert {"-12", "+3.5e2", "two\nlines", "'-\u0663"} <= labels  # a number only in ASCII digits
    assert any(row[0] == "2026-03-02T10:00:00+00:00" for row in everything)
    assert any(row[0] == "2026-03-02T10:00:00.100000+00:00" for row in everything)
    assert rows[0] == HEADER


def test_event_csv_stopped_early_leaves_the_session_usable(app, make_user):
    owner = make_user("owner@example.com", "admin")
    with acting_as(owner.id):
        bl = Bucketlist(title="list", owner=owner)
        db.session.add(bl)
        db.session.add_all([Item(title=f"item {i}", bucketlist=bl) for i in range(50)])
        db.session.commit()
    pieces = activity.iter_event_csv(activity.ActivityFilter(), chunk_size=5)
    first = next(pieces)
    assert len(first) == 5 and first.text.count("\r\n") == 5
    pieces.close()  # a client that went away: PostgreSQL's COPY is cancelled, SQLite's cursor closed
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Item)) == 50


def test_copy_rows_reads_every_row_and_raises_the_servers_error_typed(app, backend):
    """pgcopy.copy_rows takes buffered COPY rows straight from libpq: the end of the data, the statement's
    result and a failure after some rows (here a division by zero at row 10) must come out as psycopg's would."""
    if backend != "postgresql":
        pytest.skip("COPY .. TO STDOUT is PostgreSQL's")
    import psycopg

    raw = db.session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy("COPY (SELECT g, repeat('x', g) FROM generate_series(1, 5000) g) "
                                             "TO STDOUT WITH (FORMAT csv)") as copy:
        rows = [bytes(r) for r in pgcopy.copy_rows(copy)]
    assert len(rows) == 5000 and rows[0] == b"1,x\n" and rows[-1].startswith(b"5000,xxx")
    assert db.session.scalar(select(func.count()).select_from(Item)) == 0  # the connection is usable afterwards

    got: list[bytes] = []
    with pytest.raises(psycopg.errors.DivisionByZero), raw.cursor() as cursor, \
            cursor.copy("COPY (SELECT 1 / (10 - g) FROM generate_series(1, 20) g) TO STDOUT WITH (FORMAT csv)") as copy:
        got.extend(bytes(r) for r in pgcopy.copy_rows(copy))
    assert len(got) == 9
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Item)) == 0


@pytest.mark.parametrize("url", ["/admin/activity/export.csv", "/admin/items/export/csv/"])
def test_export_whose_database_fails_after_the_login_check_is_a_503_not_a_broken_200(app, viewer_client, url):
    """The export asks the database once before its response starts; the rows are read while streaming."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    seen: list[str] = []

    def fail_after_login(conn, cursor, statement, params, context, many):
        if statement.startswith("SET LOCAL statement_timeout"):  # the request's time budget (PostgreSQL)
            return
        seen.append(statement)
        if len(seen) > 1:  # the first statement loads the logged-in user; everything after it fails
            raise OperationalError(statement, params, Exception("connection lost"))

    viewer_client.get("/admin/")  # warm: the next request's first statement is the user's load
    event.listen(db.engine, "before_cursor_execute", fail_after_login)
    try:
        r = viewer_client.get(url, buffered=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", fail_after_login)
    assert "FROM users" in seen[0]
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
    assert viewer_client.get(url, buffered=True).status_code == 200
