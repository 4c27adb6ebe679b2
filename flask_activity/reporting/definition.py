"""What a report is: plain data, kept apart from the runner and the scheduler."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from ..csvsafe import Chunk


class ReportError(ValueError):
    """A report cannot be run as asked; the message says what to fix."""


@dataclass(frozen=True)
class Param:
    """A typed report parameter with a default (``--param name=value`` on the CLI).

    ``choices`` is a tuple, or a function returning the choices when a value is parsed or shown, so a list that
    can grow after import (the audited models) is read when it is needed, not when the definition is made.
    """

    name: str
    kind: type = str
    default: Any = None
    help: str = ""
    choices: Sequence[str] | Callable[[], Iterable[str]] = ()

    def options(self) -> tuple[str, ...]:
        """The allowed values now (empty: any value of ``kind``)."""
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def parse(self, text: str) -> Any:
        """``text`` as this parameter's kind; raise ReportError naming the parameter and what to give."""
        options = self.options()
        if options and text not in options:
            shown = ", ".join(c or "'' (all)" for c in options)
            raise ReportError(f"--param {self.name}: choose from {shown}, not {text!r}")
        if self.kind is int:
            try:
                return int(text)
            except ValueError:
                raise ReportError(f"--param {self.name}: {text!r} is not a whole number") from None
        return text


@dataclass(frozen=True)
class RunContext:
    """What a report's query sees: its window, parameters, zone and a read-only session."""

    since: datetime
    until: datetime
    params: dict[str, Any]
    zone: ZoneInfo
    session: Session


@dataclass(frozen=True)
class ReportDefinition:
    """A named report. Give exactly one of ``query`` (a select() with bound parameters), ``rows``, or ``chunks``.

    ``query`` and ``rows`` go through pandas a chunk at a time and every cell through the formula guard.
    ``chunks`` is for raw rows that need no shaping: it yields lists of rows (each cell through the formula
    guard) or csvsafe.CSVText rendered already, written straight to CSV without pandas (the ``activity`` report).
    """

    name: str
    title: str
    description: str
    columns: tuple[str, ...]
    query: Callable[[RunContext], Executable] | None = None
    rows: Callable[[RunContext], Iterable[Sequence[Any]]] | None = None
    chunks: Callable[[RunContext, int], Iterable[Chunk]] | None = None
    params: tuple[Param, ...] = ()
    schedule: str | None = None  # cron expression, evaluated in ``timezone``
    timezone: str = "UTC"
    retention_days: int = 30
    default_period: str = "yesterday"
    # Who gets each scheduled run: its file by email (a signed link when large) and a signed webhook POST.
    recipients: tuple[str, ...] = ()
    webhook: str | None = None

    def __post_init__(self) -> None:
        if [self.query, self.rows, self.chunks].count(None) != 2:
            raise ValueError(f"report {self.name}: give exactly one of query=, rows= or chunks=")

    @property
    def zone(self) -> ZoneInfo:
        """The zone the schedule, the named periods and the file names are read in."""
        return ZoneInfo(self.timezone)

    def parse_params(self, given: dict[str, str]) -> dict[str, Any]:
        """Defaults overlaid with ``given`` (text from the CLI or a form); unknown names are refused."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(known) or "none"
            raise ReportError(f"report {self.name} has no parameter {unknown[0]!r} (parameters: {names})")
        values = {p.name: p.default for p in self.params}
        values.update({k: known[k].parse(v) for k, v in given.items()})
        return values
