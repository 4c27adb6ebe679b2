"""Recent activity, derived by querying the audit columns: the one query layer (re-exports its public API).

Modules, one job each: ``events`` (what the feed is made of), ``params`` (input and cursor tokens),
``statements`` (every SELECT), ``queries`` (running them), ``export`` (CSV), ``pgcopy`` (the libpq COPY reader),
``daily`` (counts per window and per day, and their cache). Callers use ``from flask_activity import activity``.
"""
from __future__ import annotations

from .daily import (
    MAX_CHART_DAYS,
    DailyCounts,
    DayCount,
    DayCountCache,
    app_day_cache,
    count_windows,
    daily_counts,
    day_windows,
)
from .events import (
    ACTIONS,
    DEFAULT_LIMIT,
    EVENT_COLUMNS,
    MAX_ID,
    MAX_LIMIT,
    SYSTEM_ACTOR,
    ActivityFilter,
    BadActivityQuery,
    Cursor,
    Event,
    Page,
    event_columns,
    model_notes,
    model_registry,
)
from .export import iter_event_csv
from .params import decode_cursor, encode_cursor, filter_args, parse_filter, parse_id, parse_limit, resolve_actor
from .queries import DashboardSummary, actor_summary, count_events, dashboard_summary, fetch_page, iter_events, page_for

__all__ = [
    "ACTIONS",
    "DEFAULT_LIMIT",
    "EVENT_COLUMNS",
    "MAX_CHART_DAYS",
    "MAX_ID",
    "MAX_LIMIT",
    "SYSTEM_ACTOR",
    "ActivityFilter",
    "BadActivityQuery",
    "Cursor",
    "DailyCounts",
    "DashboardSummary",
    "DayCount",
    "DayCountCache",
    "Event",
    "Page",
    "actor_summary",
    "app_day_cache",
    "count_events",
    "count_windows",
    "daily_counts",
    "dashboard_summary",
    "day_windows",
    "decode_cursor",
    "encode_cursor",
    "event_columns",
    "fetch_page",
    "filter_args",
    "iter_event_csv",
    "iter_events",
    "model_notes",
    "model_registry",
    "page_for",
    "parse_filter",
    "parse_id",
    "parse_limit",
    "resolve_actor",
]
