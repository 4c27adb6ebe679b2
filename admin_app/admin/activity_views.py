"""The dashboard and the activity feed (HTML, JSON, CSV): parse input, call the query layer, render."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Response, current_app, jsonify, request, url_for
from flask_admin import AdminIndexView, BaseView, expose

from reports import load_reports

from .. import activity
from ..reporting import history
from ..timefmt import display_zone, start_of_day
from ..types import utcnow
from .access import SecureViewMixin
from .export import csv_response



def bad_request(message: str) -> Response:
    """400 with the message, as JSON for API clients and plain text otherwise."""
    if request.path.endswith(".json"):
        response = jsonify(error=message)
    else:
        response = Response(f"Bad request: {message}\n", mimetype="text/plain")
    response.status_code = 400
    return response


class DashboardView(SecureViewMixin, AdminIndexView):
    """Admin home: the latest events, counts for today and the last 7 days, and reports whose last run failed."""

    @expose("/")
    def index(self) -> Any:
        zone = display_zone()
        now = utcnow()
        today = start_of_day(now.astimezone(zone).date(), zone)
        week = now - timedelta(days=7)
        latest = activity.fetch_page(activity.ActivityFilter(), limit=20)
        # Counts stop at DASHBOARD_COUNT_CAP so the page costs the same on a busy day; ?exact=1 counts everything.
        cap = None if request.args.get("exact") == "1" else current_app.config["DASHBOARD_COUNT_CAP"]
        counts_today = activity.count_events(activity.ActivityFilter(since=today), cap=cap)
        counts_week = activity.count_events(activity.ActivityFilter(since=week), cap=cap)
        return self.render(
            "admin/dashboard.html",
            events=latest.events,
            counts_today=counts_today,
            counts_week=counts_week,
            cap=cap,
            capped=cap is not None and any(n > cap for n in (*counts_today.values(), *counts_week.values())),
            models=list(activity.model_registry()),
            actions=activity.ACTIONS,
            today_since=today.isoformat(),
            week_since=week.isoformat(),
            report_failures=history.latest_failures(load_reports()),
            zone=zone,
        )


class ActivityView(SecureViewMixin, BaseView):
    """/admin/activity/: the filtered feed with keyset paging, as HTML, JSON and CSV."""

    @expose("/")
    def index(self) -> Any:
        zone = display_zone()
        try:
            page = activity.page_for(request.args, zone)
        except activity.BadActivityQuery as exc:
            return bad_request(str(exc))
        args = activity.filter_args(page.filters)
        older = None
        if page.next_cursor is not None:
            older = url_for(".index", cursor=activity.encode_cursor(page.next_cursor),
                            limit=request.args.get("limit") or None, **args)
        return self.render(
            "admin/activity.html",
            page=page,
            older_url=older,
            newest_url=url_for(".index", **args) if request.args.get("cursor") else None,
            csv_url=url_for(".export_csv", **args),
            json_url=url_for(".feed_json", **args),
            form=dict(since=request.args.get("since", ""), until=request.args.get("until", ""),
                      models=page.filters.models, actions=page.filters.actions,
                      actor=request.args.get("actor", "")),
            models=list(activity.model_registry()),
            actions=activity.ACTIONS,
            zone=zone,
        )

    @expose("/feed.json")
    def feed_json(self) -> Any:
        try:
            page = activity.page_for(request.args, display_zone())
        except activity.BadActivityQuery as exc:
            return bad_request(str(exc))
        cursor = activity.encode_cursor(page.next_cursor) if page.next_cursor else None
        return jsonify(events=[e.to_json() for e in page.events], next_cursor=cursor)

    @expose("/export.csv")
    def export_csv(self) -> Any:
        try:
            flt = activity.parse_filter(request.args, display_zone())
        except activity.BadActivityQuery as exc:
            return bad_request(str(exc))
        chunks = activity.iter_event_csv(flt, chunk_size=current_app.config["EXPORT_CHUNK_SIZE"])
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        return csv_response(f"activity_{stamp}.csv", activity.EVENT_COLUMNS, chunks, export="activity")
