"""The model list pages: times as a reader says them, filter values refused in the filter form's words, the pager."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import g, has_request_context, request
from flask_admin import expose
from flask_admin.model import filters as base_filters
from markupsafe import Markup

from flask_activity.activity import BadActivityQuery, resolve_actor
from flask_activity.admin.filters import ActorFilter, AwareDateTimeBetweenFilter
from flask_activity.timefmt import display_zone, format_local, parse_datetime
from flask_activity.types import UTC, utcnow

RELATIVE_FOR_DAYS = 7  # older times are shown as a date and a time
RANGE = "START to END"


def relative_time(value: datetime, now: datetime, zone: ZoneInfo) -> str:
    """``value`` as a person says it from ``now``: "just now", "3 min ago", "2 hours ago", "4 days ago"; past a
    week (or ahead of ``now`` by more than a clock's skew) the date and time in ``zone``."""
    seconds = (now - value).total_seconds()
    if -60 < seconds < 60:
        return "just now"
    minutes, hours, days = int(seconds // 60), int(seconds // 3600), int(seconds // 86400)
    if seconds < 0 or days >= RELATIVE_FOR_DAYS:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if minutes < 60:
        return f"{minutes} min ago"
    if hours < 24:
        return "1 hour ago" if hours == 1 else f"{hours} hours ago"
    return "1 day ago" if days == 1 else f"{days} days ago"


def time_cell(value: datetime, now: datetime | None = None, zone: ZoneInfo | None = None) -> Markup:
    """A list cell's time: machine-readable UTC, the exact time in the display zone as its title, the relative
    form as its text."""
    zone = zone or display_zone()
    iso = value.astimezone(UTC).isoformat(timespec="seconds")
    said = relative_time(value, now or utcnow(), zone)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso, format_local(value, zone), said)


def list_time(view: Any, value: datetime, name: str | None = None) -> Markup:
    """Flask-Admin's type formatter for a list's datetimes (details and exports keep exact values)."""
    return time_cell(value)


def _typed(value: str) -> str:
    """The value as the reader typed it, quoted, cut to a length a message can hold."""
    return repr(value if len(value) <= 64 else value[:64] + "...")


def _date_problem(text: str, aware: bool) -> str | None:
    """Why ``text`` is not one date (with a time when ``aware``) the filter reads, or None."""
    if not text.strip():
        return "a date is missing; use YYYY-MM-DD" + (" or YYYY-MM-DD HH:MM" if aware else "")
    if aware:
        try:
            parse_datetime(text, display_zone())
        except ValueError as exc:  # the display zone's own parser says what it reads
            return str(exc)
        return None
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return f"{_typed(text)} is not a date; use YYYY-MM-DD"
    return None


def _range_problem(value: str, aware: bool) -> str:
    parts = value.split(" to ")
    if not value.strip():
        return f"no dates given; give a range as {RANGE}"
    if len(parts) != 2:
        problem = _date_problem(value, aware)
        example = "2026-01-01 to 2026-01-31 18:00" if aware else "2026-01-01 to 2026-01-31"
        return problem or f"{_typed(value)} is one date; give a range as {RANGE}, e.g. {example}"
    for part in parts:
        problem = _date_problem(part.strip() if aware else part, aware)
        if problem:
            return problem
    return f"the start, {_typed(parts[0])}, is after the end, {_typed(parts[1])}"


def _choices(options: Any) -> str:
    labels = [str(label) for _value, label in options]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def filter_problem(flt: Any, value: str) -> str:
    """Why ``flt`` refuses ``value``, in the filter form's words (its caller has asked ``flt.validate``)."""
    if isinstance(flt, AwareDateTimeBetweenFilter):
        return _range_problem(value, aware=True)
    if isinstance(flt, base_filters.BaseDateBetweenFilter):
        return _range_problem(value, aware=False)
    if isinstance(flt, base_filters.BaseDateFilter):
        return _date_problem(value, aware=False) or f"{_typed(value)} is not a date; use YYYY-MM-DD"
    if isinstance(flt, ActorFilter):
        try:
            resolve_actor(value.strip())
        except BadActivityQuery as exc:  # the query layer's words, without its parameter's name
            return str(exc).removeprefix("actor: ")
    if isinstance(flt, base_filters.BaseIntFilter | base_filters.BaseIntListFilter):
        return f"{_typed(value)} is not a whole number"
    if isinstance(flt, base_filters.BaseFloatFilter | base_filters.BaseFloatListFilter):
        return f"{_typed(value)} is not a number"
    options = flt.options if isinstance(flt.options, list | tuple) else None
    if options:
        return f"{_typed(value)} is not one of the choices; choose {_choices(options)}"
    return f"{_typed(value)} is not a value this filter takes"


@dataclass(frozen=True)
class ListFilters:
    """A list request's filters as (index, name, value): those applied, every one shown in the filter form as
    typed, and the refused ones as (their row in ``shown``, why in the form's words)."""

    applied: list[tuple[int, str, str]]
    shown: list[tuple[int, str, str]]
    errors: list[tuple[int, str]]


class FilteredList:
    """Mix into a Flask-Admin ``ModelView`` (before it): a filter value the list cannot use is a 400 page with the
    filter form as typed and the reason beside the filter, not a flash and a list without that filter."""

    endpoint: str
    list_template: str
    _filters: Any
    _filter_args: Any
    _list_columns: list[tuple[str, str]]
    TIME_COLUMNS: tuple[str, ...] = ()  # sorted by one of these, the pager says Newer and Older

    def list_filters(self) -> ListFilters:
        """This request's filters, read once. Flask-Admin's reading (BaseModelView._get_list_filter_args), except
        that a refused value is kept with why instead of flashed and dropped."""
        key = f"list_filters.{self.endpoint}"
        if key not in g:
            setattr(g, key, self._read_filters())
        found: ListFilters = getattr(g, key)
        return found

    def _read_filters(self) -> ListFilters:
        given = []
        for arg in request.args:
            if not arg.startswith("flt") or "_" not in arg:
                continue
            pos, key = arg[3:].split("_", 1)
            if key in (self._filter_args or {}):
                idx, flt = self._filter_args[key]
                given.append((pos, idx, flt, request.args[arg]))
        applied: list[tuple[int, str, str]] = []
        shown: list[tuple[int, str, str]] = []
        errors: list[tuple[int, str]] = []
        for _pos, idx, flt, value in sorted(given, key=lambda one: one[0]):  # Flask-Admin's order: by flt<pos>_
            entry = (idx, str(flt.name), value)
            if flt.validate(value):
                applied.append(entry)
            else:
                errors.append((len(shown), f"{flt.name}: {filter_problem(flt, value)}"))
            shown.append(entry)
        return ListFilters(applied, shown, errors)

    def _get_list_filter_args(self) -> Any:
        return self.list_filters().applied if self._filters else None

    def _filters_refused(self) -> bool:
        return has_request_context() and bool(self.list_filters().errors)

    @expose("/")
    def index_view(self) -> Any:
        """The list; with a filter value it cannot use, the filter form again with the reason, as a 400."""
        page = super().index_view()  # type: ignore[misc]
        return (page, 400) if self._filters_refused() else page

    def get_list(self, page: int | None, sort_column: Any, sort_desc: bool, search: str | None, filters: Any,
                 execute: bool = True, page_size: int | None = None) -> Any:
        if execute and self._filters_refused():
            return None, []  # no rows rather than rows the reader did not ask for
        return super().get_list(page, sort_column, sort_desc, search, filters,  # type: ignore[misc]
                                execute=execute, page_size=page_size)

    def get_empty_list_message(self) -> str:
        if self._filters_refused():
            return "No records are shown until the filter above is fixed."
        return str(super().get_empty_list_message())  # type: ignore[misc]

    def list_columns_shown(self) -> list[tuple[str, str]]:
        """The columns of this request's list (all of ``column_list`` unless a view says otherwise)."""
        return list(self._list_columns)

    def render(self, template: str, **kwargs: Any) -> Any:
        if template == self.list_template and "list_columns" in kwargs:  # the list page (index_view)
            found = self.list_filters()
            kwargs.update(list_columns=self.list_columns_shown(), active_filters=found.shown,
                          filter_errors=found.errors)
        return super().render(template, **kwargs)  # type: ignore[misc]

    def pager_words(self, sort: int | None, desc: Any) -> tuple[str, str]:
        """The pager's words for the page before this one and the page after it, in the list's order."""
        column = self._get_column_by_idx(sort)  # type: ignore[attr-defined]
        if column is None:  # the default order: newest first
            return "Newer", "Older"
        if column[0] in self.TIME_COLUMNS:
            return ("Newer", "Older") if desc else ("Older", "Newer")
        return "Previous", "Next"
