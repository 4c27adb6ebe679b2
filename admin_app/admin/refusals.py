"""What a person is told when the database refuses a change made through an admin form or action.

Flask-Admin flashes the exception's text ("Integrity error. (psycopg.errors.UniqueViolation) ... [SQL: INSERT ...]
[parameters: {... 'password_hash': ...}]"): the statement, the values and a password hash on the page. Here the
page gets a sentence the person can act on; the details go to the log only.
"""
from __future__ import annotations

import logging
import re

from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

log = logging.getLogger(__name__)

UNIQUE_VIOLATION = "23505"  # PostgreSQL SQLSTATEs
DISK_FULL = "53100"
NOTHING_SAVED = "nothing was saved"
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: \w+\.(\w+)")
_POSTGRESQL_KEY = re.compile(r"Key \((\w+)\)=")


def refusal_message(exc: SQLAlchemyError) -> str:
    """One sentence saying why the change was refused and that nothing was saved."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    text = str(orig or exc)
    if isinstance(exc, IntegrityError):
        column = _unique_column(orig, text)
        if column is not None:
            return f"That {column.replace('_', ' ')} is already in use; {NOTHING_SAVED}."
        return f"The change conflicts with other records; {NOTHING_SAVED}."
    if state == DISK_FULL or "database or disk is full" in text:
        return f"The disk is full; {NOTHING_SAVED}. Tell whoever runs the server."
    if isinstance(exc, OperationalError):
        return f"The database could not take the change just now; {NOTHING_SAVED}. Try again."
    return f"The database refused the change; {NOTHING_SAVED}."


def _unique_column(orig: object, text: str) -> str | None:
    if getattr(orig, "sqlstate", None) == UNIQUE_VIOLATION:
        detail = getattr(getattr(orig, "diag", None), "message_detail", None) or text
        found = _POSTGRESQL_KEY.search(detail)
        return found.group(1) if found else "value"
    found = _SQLITE_UNIQUE.search(text)
    return found.group(1) if found else None


def log_refusal(view: str, exc: SQLAlchemyError) -> None:
    """The driver's error for whoever reads the log (never the page); not the statement's parameters, which may
    hold a password hash."""
    log.warning("the database refused a change in %s: %s: %s", view, type(exc).__name__,
                str(getattr(exc, "orig", None) or exc).strip())
