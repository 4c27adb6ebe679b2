"""The dashboard and the activity feed (HTML, JSON, CSV): parse input, call the query layer, render."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import current_app, jsonify, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from sqlalchemy.exc import SQLAlchemyError

from .. import activity
from ..http import bad_request
from ..reporting import runs
from ..reporting.registry import load_reports
from ..state import model_label, state
from ..timefmt import display_zone
from ..types import utcnow
from . import charts, people
from .access import ActivityAccessMixin
from .export import csv_response


class DashboardView(ActivityAccessMixin, AdminIndexView):
    """Admin home: events per day (chart), the latest events, counts for today and the last 7 days, and reports
    whose last run failed."""

    chart_days = 30

    @expose("/")
    def index(self) -> Any:
        zone = display_zone()
        chart_model = request.args.get("chart_model", "").strip().lower()
        # Counts stop at DASHBOARD_COUNT_CAP so the page costs the same on a busy day; ?exact=1 counts everything.
        cap = None if request.args.get("exact") == "1" else current_app.config["DASHBOARD_COUNT_CAP"]
        ttl = current_app.config["DASHBOARD_CHART_TTL"]
        live_ttl = 0 if cap is None else current_app.config["DASHBOARD_LIVE_TTL"]  # ?exact=1 counts now
        try:  # the chart is counted first: a bad chart_model costs no query
            summary = activity.dashboard_summary(zone, utcnow(), chart_model, self.chart_days, cap=cap,
                                                 cache=activity.app_day_cache(), ttl=ttl, live_ttl=live_ttl,
                                                 recount=in_background, shared=shared_counts())
        except activity.BadActivityQuery as exc:
            return bad_request(f"chart_model: {exc}")
        chart_href = self._chart_feed_urls(zone, chart_model)
        return self.render(
            "activity/dashboard.html",
            events=summary.latest,
            counts_today=summary.counts_today,
            counts_week=summary.counts_week,
            cap=summary.cap,
            capped=summary.capped,
            models=list(summary.models),
            actions=activity.ACTIONS,
            today_since=summary.today_since.isoformat(),
            week_since=summary.week_since.isoformat(),
            report_failures=runs.latest_failures(load_reports()),
            zone=zone,
            daily=summary.daily,
            chart_svg=charts.activity_chart(summary.daily, chart_href),
            chart_href=chart_href,
            chart_choices=self._chart_choices(chart_model),
            chart_ttl=ttl,
            live_ttl=live_ttl,
        )

    @staticmethod
    def _chart_feed_urls(zone: ZoneInfo, model: str) -> Callable[[activity.DayCount, str | None], str]:
        """href(day, action): the feed of exactly one chart day's window (and action), as the chart counted it.
        The page has ~240 of these links (chart and table): url_for for each took 6 ms, so the path is built
        once and each day's window encoded once."""
        base = url_for("activity.index") + "?"
        windows: dict[tuple[Any, Any], str] = {}

        def href(day: activity.DayCount, action: str | None = None) -> str:
            window = windows.get((day.since, day.until))
            if window is None:
                since, until = day.since.astimezone(zone).isoformat(), day.until.astimezone(zone).isoformat()
                window = windows[(day.since, day.until)] = urlencode(
                    [("since", since), ("until", until)] + ([("model", model)] if model else []))
            return f"{base}{window}&{urlencode({'action': action})}" if action else base + window

        return href

    @staticmethod
    def _chart_choices(current: str) -> list[tuple[str, str, bool]]:
        """(label, URL, is current) per chart model, "All" first. The page's own other state (exact=1) is kept,
        nothing else: every unknown argument was copied into each link. Encoded here rather than passed to url_for,
        which would take "_external" or "_scheme" as its own."""
        kept = [("exact", "1")] if request.args.get("exact") == "1" else []
        choices = []
        for name in ("", *activity.model_registry()):
            query = urlencode(kept + ([("chart_model", name)] if name else []))
            url = url_for(".index") + (f"?{query}" if query else "") + "#activity-chart-section"
            choices.append((model_label(name) if name else "All", url, name == current))
        return choices


#: The feed form's own words for the query layer's parameter names.
FIELD_LABELS = {"since": "From", "until": "To (before)", "model": "Model", "action": "Action", "actor": "By"}


def shared_counts() -> bool:
    """Read the chart's past days from the shared counts table: the scheduler keeps it (DASHBOARD_COUNTS_REFRESH)
    and it exists in this database."""
    return float(current_app.config["DASHBOARD_COUNTS_REFRESH"]) > 0 and activity.shared_counts_ready()


def in_background(job: Callable[[], None]) -> None:
    """Run ``job`` in a thread with this app's context (its own database session), so no request waits for it:
    how the dashboard counts an expired chart again (activity.daily_counts' ``recount``)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            try:
                job()
            except SQLAlchemyError:  # the next dashboard serves the old counts and tries again
                app.logger.exception("counting the dashboard chart again failed")

    threading.Thread(target=run, name="chart-recount", daemon=True).start()


def form_error(message: str) -> tuple[str | None, str]:
    """(the form field a query-layer error is about, the error in the form's words); no field for a cursor or limit."""
    if message.startswith("since must be earlier than until"):
        return "until", "To (before) must be later than From."
    for name, label in FIELD_LABELS.items():
        if message.startswith(f"{name}: "):
            return name, f"{label}: {message.removeprefix(f'{name}: ')}"
        if message.startswith(f"unknown {name} "):
            return name, f"{label}: {message}"
    return None, message


class ActivityView(ActivityAccessMixin, BaseView):
    """/admin/activity/: the filtered feed with keyset paging, as HTML, JSON and CSV."""

    @expose("/")
    def index(self) -> Any:
        zone = display_zone()
        try:
            page = activity.page_for(request.args, zone)
        except activity.BadActivityQuery as exc:  # the page again, as typed, the error beside its field: a 400
            field, message = form_error(str(exc))
            return self.render("activity/feed.html", page=activity.Page([], None), error_field=field,
                               error=message, form=dict(since=request.args.get("since", ""),
                                                        until=request.args.get("until", ""),
                                                        models=tuple(request.args.getlist("model")),
                                                        actions=tuple(request.args.getlist("action")),
                                                        actor=request.args.get("actor", "")),
                               older_url=None, newest_url=None, live_feed_url=None, live_since="",
                               csv_url=url_for(".export_csv"), json_url=url_for(".feed_json"),
                               subscribe_url=url_for("subscriptions.new"), models=list(activity.model_registry()),
                               actions=activity.ACTIONS, zone=zone, notes=activity.model_notes(),
                               person=state().person), 400
        args: dict[str, Any] = activity.filter_args(page.filters)  # url_for's **values take Any
        limit = request.args.get("limit") or None  # paging keeps the page size the reader chose
        older = None
        if page.next_cursor is not None:
            older = url_for(".index", cursor=activity.encode_cursor(page.next_cursor), limit=limit, **args)
        return self.render(
            "activity/feed.html",
            page=page,
            older_url=older,
            newest_url=url_for(".index", limit=limit, **args) if request.args.get("cursor") else None,
            csv_url=url_for(".export_csv", **args),
            json_url=url_for(".feed_json", **args),
            # Live only on the newest page of an open-ended window: new events belong at its top.
            live_feed_url=None if request.args.get("cursor") or page.filters.until else url_for(
                ".feed_json", **{k: v for k, v in args.items() if k != "since"}),
            live_since=(page.filters.since or utcnow()).isoformat(),
            subscribe_url=url_for("subscriptions.new", model=list(page.filters.models),
                                  action=list(page.filters.actions), actor=request.args.get("actor") or None),
            form=dict(since=request.args.get("since", ""), until=request.args.get("until", ""),
                      models=page.filters.models, actions=page.filters.actions,
                      actor=request.args.get("actor", "")),
            models=list(activity.model_registry()),
            actions=activity.ACTIONS,
            zone=zone,
            notes=activity.model_notes(),
            person=state().person,
        )

    @expose("/by/<who>")
    def person(self, who: str) -> Any:
        """A person's page: what they did (or the system did), counted and listed from the feed."""
        return self.render("activity/person.html", **people.person_context(who))

    @expose("/feed.json")
    def feed_json(self) -> Any:
        try:
            page = activity.page_for(request.args, display_zone())
        except activity.BadActivityQuery as exc:
            return bad_request(str(exc))
        cursor = activity.encode_cursor(page.next_cursor) if page.next_cursor else None
        notes = activity.model_notes()  # what a model's columns cannot show, said once per model (absent: nothing)
        extra = {"notes": notes} if notes else {}
        person = state().person
        return jsonify(events=[e.to_json(person) for e in page.events], next_cursor=cursor, **extra)

    @expose("/export.csv")
    def export_csv(self) -> Any:
        try:
            flt = activity.parse_filter(request.args, display_zone())
        except activity.BadActivityQuery as exc:
            return bad_request(str(exc))
        chunks = activity.iter_event_csv(flt, chunk_size=current_app.config["EXPORT_CHUNK_SIZE"])
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        return csv_response(f"activity_{stamp}.csv", activity.event_columns(), chunks, export="activity")
