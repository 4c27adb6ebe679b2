"""/admin/reports/: report definitions, run history, downloads and Run now. Parse input, call, render."""
from __future__ import annotations

import logging
from concurrent.futures import wait
from typing import Any

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_admin import BaseView, expose
from markupsafe import Markup

from ..activity import MAX_ID
from ..delivery import report_delivery
from ..delivery.subscriptions import SubscriptionError
from ..http import bad_request
from ..reporting import background, runs
from ..reporting.definition import ReportError
from ..reporting.files import file_sha256, report_file, run_location
from ..reporting.models import ReportRun
from ..reporting.overview import summaries
from ..reporting.periods import PERIODS, named_period
from ..reporting.registry import get_report, load_reports
from ..timefmt import display_zone
from ..types import utcnow
from .access import ActivityAccessMixin

log = logging.getLogger(__name__)
MIMETYPES = {".gz": "application/gzip", ".csv": "text/csv"}


class ReportsView(ActivityAccessMixin, BaseView):
    """Everyone logged in reads and downloads; admins also run a report now."""

    @expose("/")
    def index(self, error: SubscriptionError | None = None, typed: dict[str, str] | None = None,
              run_error: tuple[str, str] | None = None) -> Any:
        """The page; with ``error`` (recipients) or ``run_error`` ((report, message) of Run now), again as posted
        with the reason beside its form, as a 400."""
        report = request.args.get("report", "").strip() or None
        if report is not None:
            try:
                get_report(report)
            except ReportError as exc:
                return bad_request(str(exc))
        history = runs.run_history(report)
        root = current_app.config["REPORTS_DIR"]
        replaced = runs.superseded_by(history)
        return self.render(
            "activity/reports.html",
            summaries=summaries(load_reports(), utcnow()),
            runs=history,
            downloadable={r.id for r in history if r.id not in replaced and report_file(r, root) is not None},
            locations={r.id: run_location(r, root, replaced.get(r.id)) for r in history},
            report=report,
            limit=runs.HISTORY_LIMIT,
            periods=PERIODS,
            can_run=self.is_admin_user,
            zone=display_zone(),
            recipients={d.name: report_delivery.recipients(d) for d in load_reports().values()},
            error=error,
            typed=typed or {},
            run_error=run_error,
        ), 400 if error is not None or run_error is not None else 200

    @expose("/recipients", methods=("POST",))
    def set_recipients(self) -> Any:
        """An administrator names who gets a report's scheduled runs: email addresses and a webhook."""
        name = request.form.get("report", "")
        try:
            get_report(name)
        except ReportError as exc:
            return bad_request(str(exc))
        typed = {"report": name, "emails": request.form.get("emails", ""),
                 "webhook_url": request.form.get("webhook_url", "")}
        try:
            secret = report_delivery.save_recipients(name, typed["emails"], typed["webhook_url"])
        except SubscriptionError as exc:
            return self.index(error=exc, typed=typed)
        flash(f"Recipients of {name} saved: each scheduled run is sent to them.", "success")
        if secret:
            flash(f"Webhook signing secret, shown once: {secret}", "warning")
        return redirect(url_for(".index"))

    @expose(f"/download/<int(max={MAX_ID}):run_id>")  # a larger id is no run's: 404, not a database error
    def download(self, run_id: int) -> Any:
        return serve_run_file(runs.get_run(run_id))

    @expose("/run", methods=("POST",))
    def run_now(self) -> Any:
        name, period = request.form.get("report", ""), request.form.get("period", "")
        try:
            defn = get_report(name)
        except ReportError as exc:
            return self.index(run_error=(name, f"Run now: {exc}. Nothing was run."))
        if period not in PERIODS:
            return self.index(run_error=(name, f"Period: unknown period {period[:40]!r}; choose from "
                                               f"{', '.join(PERIODS)}. Nothing was run."))
        since, until = named_period(period, defn.zone, utcnow())
        busy = runs.unfinished_run(defn.name, since, until)
        if busy is not None:
            flash(f"{defn.title} ({period}) is already {busy.status} as run {busy.id}; wait for it to finish "
                  "before running the same period again.", "error")
            return redirect(url_for(".index", report=defn.name))
        run = runs.queue(defn.name, since, until, defn.parse_params({}))
        try:
            done = background.run_queue().submit(run.id)
        except background.QueueFull as exc:
            runs.fail(run, f"not run: {exc}", 0)
            flash(f"{defn.title} ({period}) was not run: {exc}.", "error")
            return redirect(url_for(".index"))
        # The request waits a moment at most (REPORT_RUN_NOW_WAIT): a quick report's message carries its link.
        wait([done], timeout=current_app.config["REPORT_RUN_NOW_WAIT"])
        runs.end_read()
        now = runs.get_run(run.id) or run
        flash(_run_message(defn.title, period, now), _CATEGORY.get(now.status, "info"))
        return redirect(url_for(".index"))


_CATEGORY = {"succeeded": "success", "failed": "error"}


def _run_message(title: str, period: str, run: ReportRun) -> Markup:
    """Run now's message: the outcome with the download link, or where the run stands while it goes on."""
    name = f"{title} ({period}), run {run.id}"
    if run.status == "succeeded":
        link = url_for(".download", run_id=run.id)
        return Markup('{}: {:,} rows, {}. <a href="{}" class="alert-link">Download the file</a>').format(
            name, run.rows or 0, current_app.jinja_env.filters["filesizeformat"](run.bytes or 0), link)
    if run.status == "failed":
        return Markup("{} failed: {}").format(name, run.error or "no reason recorded")
    return Markup("{} is {} in the background; its row below updates when it finishes, with the download "
                  "link.").format(name, run.status)


def serve_run_file(run: ReportRun | None) -> Any:
    """A run's file as a download: 404 when it has none, 410 when a newer run of the same period replaced it, 409
    when it no longer matches the SHA-256 its run recorded (the Reports page and a delivery's signed link)."""
    path = report_file(run, current_app.config["REPORTS_DIR"]) if run else None
    if path is None or run is None:
        abort(404, description="No downloadable file for this run.")
    newer = runs.superseded_by([run]).get(run.id)
    if newer is not None:
        abort(410, description=f"Run {run.id}'s file was replaced by run {newer}, which ran the same report over "
                               f"the same period; download run {newer} instead.")
    try:
        if file_sha256(path) != run.sha256:
            log.error("report file %s does not match the SHA-256 run %s recorded (%s); not served",
                      path, run.id, run.sha256)
            abort(409, description=f"The file of run {run.id} has changed on disk since the run wrote it (its "
                                   "SHA-256 no longer matches), so it is not served. Run the report again.")
        response = send_file(path, as_attachment=True, download_name=path.name,
                             mimetype=MIMETYPES.get(path.suffix, "application/octet-stream"))
    except OSError:  # removed (e.g. pruned) between the checks and the send
        abort(404, description="No downloadable file for this run.")
    response.headers["Cache-Control"] = "no-store"  # send_file's no-cache lets a browser keep the data
    return response
