"""How a command fails: one line on stderr and exit status 2 (bad input, database errors, non-UTF-8 text)."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str) -> NoReturn:
    """Print one line saying what to fix and exit with status 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def db_errors(f: Callable[P, R]) -> Callable[P, R]:
    """Turn database errors into one line and exit status 2 (e.g. a schema that was never created).

    Also refuses, before the command runs, any argument that is not UTF-8 text (see refuse_non_utf8).
    """

    @functools.wraps(f)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        refuse_non_utf8(kwargs)
        try:
            return f(*args, **kwargs)
        except (OperationalError, ProgrammingError) as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            fail(f"database error: {first} (is DATABASE_URL right, and did you run 'manage.py init-db'?)")

    return wrapper


def refuse_non_utf8(params: dict[str, object]) -> None:
    """Exit 2 naming the first argument that is not UTF-8: bytes the shell passed that Python keeps as lone
    surrogates, which no database driver can send (a UnicodeEncodeError deep inside a query otherwise)."""
    for name, value in params.items():
        for text in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(text, str) and text.encode("utf-8", "replace").decode("utf-8") != text:
                fail(f"{name.replace('_', '-')}: {text!r} is not valid UTF-8 text")


def stdin_line() -> str:
    """One line of standard input without its line end (a password), or exit 2 if it is not UTF-8."""
    try:
        return sys.stdin.readline().rstrip("\r\n")
    except UnicodeDecodeError:
        fail("standard input is not valid UTF-8 text")
