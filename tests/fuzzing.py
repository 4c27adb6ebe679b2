"""Hypothesis profiles, shared strategies and a count of what the fuzz tests ran (a pytest plugin, see conftest.py).

Profiles: ``ci`` (the default) and ``long``, 20 times the examples, chosen with ``HYPOTHESIS_PROFILE=long``::

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest -n 2 -p no:warnings -q tests/test_fuzz_*.py

Fuzz tests set their example counts with ``scaled(n)`` (n in the ``ci`` profile) and call ``count()`` for each
request, CLI call or parser input they try; the totals are printed at the end of the run, summed over xdist
workers, so a run can be quoted as "N fuzzed requests: 0 5xx".
"""
from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from admin_app import create_app
from admin_app.accounts import create_user
from admin_app.extensions import db
from admin_app.models import User
from flask_activity import activity
from flask_activity.audit import acting_as
from flask_activity.csvsafe import FORMULA_TRIGGERS
from flask_activity.reporting import runner
from flask_activity.reporting.registry import load_reports
from flask_activity.types import UTC
from tests import factories

FACTORS = {"ci": 1, "long": 20}
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in FACTORS:
    raise pytest.UsageError(f"HYPOTHESIS_PROFILE must be one of {', '.join(FACTORS)}, not {PROFILE!r}")
for _name, _factor in FACTORS.items():
    # No deadline and no too_slow health check: how long a request or a draw takes depends on the machine's
    # load, not on the input. No example database: a failure prints the blob that replays it
    # (@reproduce_failure). Hypothesis still caches constants in .hypothesis/ (git-ignored).
    settings.register_profile(_name, max_examples=100 * _factor, deadline=None, database=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(PROFILE)

COUNTS: Counter[str] = Counter()


def scaled(n: int) -> int:
    """``n`` examples in the ``ci`` profile, 20 n in ``long``."""
    return n * FACTORS[PROFILE]


def count(kind: str, n: int = 1) -> None:
    """Record that a fuzz test tried ``n`` inputs of ``kind`` (e.g. ``"requests"``, ``"requests 4xx"``)."""
    COUNTS[kind] += n


def count_response(status: int) -> None:
    """One fuzzed request and its status class."""
    COUNTS["requests"] += 1
    COUNTS[f"requests {status // 100}xx"] += 1
    COUNTS.setdefault("requests 5xx", 0)  # shown, so a run reads "... 5xx: 0"


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput["fuzz_counts"] = dict(COUNTS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    COUNTS.update(getattr(node, "workeroutput", {}).get("fuzz_counts", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COUNTS:
        terminalreporter.write_line(f"fuzzing (hypothesis profile {PROFILE!r}): {summary()}")


def summary() -> str:
    """'1,800 requests (2xx: 743, 3xx: 340, 4xx: 717, 5xx: 0); 770 CLI calls (exit 0: 149, exit 2: 621); ...'"""
    parts = []
    for main in sorted(k for k in COUNTS if not any(k.startswith(other + " ") for other in COUNTS)):
        detail = ", ".join(f"{k[len(main) + 1:]}: {COUNTS[k]:,}" for k in sorted(COUNTS) if k.startswith(main + " "))
        parts.append(f"{COUNTS[main]:,} {main}" + (f" ({detail})" if detail else ""))
    return "; ".join(parts)


# --- strategies shared by the fuzz tests ---------------------------------------------------------------------

# What a URL or a form can carry: any character but a lone surrogate (UTF-8 cannot encode one).
WEB_CHARS = st.characters(exclude_categories=("Cs",))
# What a command line can carry: no NUL, but undecodable bytes arrive as surrogates (surrogateescape).
ARGV_CHARS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",)) | st.sampled_from("\udcff\udc80")
# Characters dates are made of, and near misses: other digits, other separators, full-width forms.
DATE_CHARS = "0123456789-:+.TtZzW /,_\t\u00a0\u0663\uff12\uff0d"
_DATE_SHAPES = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y", "%Y%m%d", "%Y-%m-%d %I:%M %p")


def _spellings(moment: datetime) -> list[str]:
    """Ways a person or a program might write ``moment``."""
    out = [moment.isoformat(), moment.isoformat(sep=" "), moment.isoformat(timespec="minutes"),
           moment.isoformat().replace("+00:00", "Z"), moment.isoformat() + "Z"]
    out += [moment.strftime(shape) for shape in _DATE_SHAPES]
    return out


@st.composite
def mutated(draw: Any, base: st.SearchStrategy[str], chars: st.SearchStrategy[str] = WEB_CHARS) -> str:
    """``base`` with up to three characters inserted, deleted or replaced, or cut short."""
    text = draw(base)
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(("insert", "delete", "replace", "cut")))
        ch = draw(st.sampled_from(DATE_CHARS) | chars)
        if op == "insert":
            text = text[:i] + ch + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + 1:]
        elif op == "replace":
            text = text[:i] + ch + text[i + 1:]
        else:
            text = text[:i]
    return text


MOMENTS = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                       timezones=st.none() | st.timezones())
REAL_DATES = MOMENTS.flatmap(lambda m: st.sampled_from(_spellings(m)))


def date_texts(chars: st.SearchStrategy[str] = WEB_CHARS) -> st.SearchStrategy[str]:
    """Dates and date-times in any zone and many spellings, near misses, and noise."""
    return st.one_of(REAL_DATES, mutated(REAL_DATES, chars), st.text(st.sampled_from(DATE_CHARS), max_size=30),
                     st.text(chars, max_size=30))


def number_texts(chars: st.SearchStrategy[str] = WEB_CHARS) -> st.SearchStrategy[str]:
    """Whole numbers that fit, that do not, and that are not numbers (other digits, huge, signs, spaces)."""
    return st.one_of(
        st.integers(-(2**64), 2**64).map(str),
        st.integers(-3, 600).map(str),
        st.integers(4000, 6000).map(lambda n: "9" * n),  # past int()'s 4,300-digit limit
        st.sampled_from(["", " ", "1.5", "1e3", "0x10", "1_0", " 7 ", "+5", "-0", "\u00b2", "\u0663", "\uff15", "NaN"]),
        st.text(chars, max_size=8),
    )


# Feed filter values: valid, valid but oddly written, unknown, and noise.
MODEL_VALUES = st.sampled_from(("item", "Item", " user ", "bucketlist,item", "item,,", "invoice", "", ",")) | st.text(
    WEB_CHARS, max_size=12)
ACTION_VALUES = st.sampled_from(("created", "UPDATED", "deleted,created", "burned", "")) | st.text(
    WEB_CHARS, max_size=12)
ACTOR_VALUES = st.one_of(
    st.sampled_from(("system", " SYSTEM ", "admin@example.com", "VIEWER@example.com", " admin@example.com ",
                     "ghost@example.com", "1", "2", "3", "%", "_", "*@*", "")),
    number_texts(), st.text(WEB_CHARS, max_size=20))
IN_RANGE = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9998, 12, 31, 23, 59, 59, 999999))
CURSORS = st.builds(activity.Cursor, at=IN_RANGE.map(lambda d: d.replace(tzinfo=UTC)),
                    model=st.sampled_from(("bucketlist", "item", "user")), id=st.integers(0, activity.MAX_ID),
                    action=st.sampled_from(activity.ACTIONS))


def cursor_tokens(chars: st.SearchStrategy[str] = WEB_CHARS) -> st.SearchStrategy[str]:
    """Signed cursors (drawn inside an app context: they are signed with its key), tampered ones, and noise."""
    signed = CURSORS.map(activity.encode_cursor)
    return st.one_of(signed, mutated(signed, st.sampled_from("abcXYZ019-_.=")), st.text(chars, max_size=40))


# --- what every CSV the app writes must satisfy --------------------------------------------------------------

# What spreadsheets take as a number, not a formula: ASCII digits only.
PLAIN_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def starts_a_formula(cell: str) -> bool:
    """A cell a spreadsheet could evaluate: a trigger first, or after leading whitespace and invisible format
    characters (Unicode category Cf), and not a number."""
    rest = cell
    while rest and (rest[0].isspace() or unicodedata.category(rest[0]) == "Cf"):
        rest = rest[1:]
    return (cell.startswith(FORMULA_TRIGGERS) or rest.startswith(FORMULA_TRIGGERS)) \
        and not PLAIN_NUMBER.fullmatch(cell)


def assert_formula_safe_csv(text: str) -> list[list[str]]:
    """Parse RFC 4180 text; no cell may start a formula. Returns the rows."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    for row in rows:
        for cell in row:
            assert not starts_a_formula(cell), (cell, row)
    count("CSV cells", sum(map(len, rows)))
    return rows


# --- one seeded app per module and database ------------------------------------------------------------------

# Item titles that start formulas (also behind whitespace or in full width), numbers, and text a CSV must quote.
TITLES = ("=1+1", "-12.5", "@SUM(A1)", "+cmd|' /C calc'!A0", " =2", "\u3000=3", "\uff1d4", "\t=5", "-1-1",
          'comma, "quote"', "multi\nline", "cr\ronly", "ünïcödé ✓", "plain")


@contextmanager
def fuzz_app(database_url: str, reports_dir: Path) -> Iterator[tuple[Flask, tuple[User, User]]]:
    """An app on the session's database, seeded, in an app context; (app, (admin, viewer)). Emptied afterwards.

    Made once per module: hypothesis runs every example of a test inside one call of the test function, so
    function-scoped fixtures would be shared by all examples anyway (its health check refuses them).
    """
    from tests.conftest import _config

    app = create_app({**_config(database_url), "REPORTS_DIR": str(reports_dir)})
    with app.app_context():
        try:
            yield app, _seed()
        finally:
            _empty()


def _seed() -> tuple[User, User]:
    """Users (one with a formula email), bucketlists and items with formula titles, updated, deleted, paged."""
    from tests.conftest import PASSWORD

    admin = create_user("admin@example.com", PASSWORD, "admin")
    viewer = create_user("viewer@example.com", PASSWORD, "viewer")
    evil = create_user("=hyperlink@example.com", PASSWORD, "admin", display_name="@SUM(1)")
    lists = [factories.bucketlist(owner, title, actor=owner) for owner, title in
             ((admin, "Travel"), (evil, "=evil()"), (viewer, "-3"))]
    for i, title in enumerate(TITLES):
        it = factories.item(lists[i % 3], title, actor=(admin, evil, None)[i % 3])
        if i % 4 == 1:
            with acting_as(viewer.id):
                it.title = title + " (edited)"
                db.session.commit()
        if i % 5 == 2:
            with acting_as(evil.id):
                it.soft_delete()
                db.session.commit()
    factories.history_items(lists[0].id, 60, datetime(2026, 3, 28, tzinfo=UTC), timedelta(hours=1), 3, 7,
                            timedelta(minutes=5), timedelta(minutes=9), actor_id=admin.id, per_step=2)
    day = datetime(2026, 3, 29, tzinfo=UTC)
    runner.run_report(load_reports()["items"], day, day + timedelta(days=1))  # a run to download
    return admin, viewer


def _empty() -> None:
    """What the conftest's ``app`` fixture does after each test: leave the database empty for the next one."""
    from tests.conftest import empty_database

    empty_database()
