"""/admin/reports/: report definitions, run history, downloads and Run now. Parse input, call, render."""
from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_admin import BaseView, expose

from reports import load_reports

from ..activity import MAX_ID
from ..errors import bad_request
from ..reporting import history, runner
from ..reporting.periods import PERIODS, named_period
from ..timefmt import display_zone
from ..types import utcnow
from .access import SecureViewMixin

MIMETYPES = {".gz": "application/gzip", ".csv": "text/csv"}


class ReportsView(SecureViewMixin, BaseView):
    """Everyone logged in reads and downloads; admins also run a report now."""

    @expose("/")
    def index(self) -> Any:
        defs = load_reports()
        report = request.args.get("report", "").strip() or None
        if report is not None and report not in defs:
            return bad_request(f"unknown report {report!r}; choose from {', '.join(defs)}")
        runs = history.run_history(report)
        root = current_app.config["REPORTS_DIR"]
        return self.render(
            "admin/reports.html",
            summaries=history.summaries(defs, utcnow()),
            runs=runs,
            downloadable={r.id for r in runs if history.report_file(r, root) is not None},
            report=report,
            limit=history.HISTORY_LIMIT,
            periods=PERIODS,
            can_run=self.is_admin_user,
            zone=display_zone(),
        )

    @expose(f"/download/<int(max={MAX_ID}):run_id>")  # a larger id is no run's: 404, not a database error
    def download(self, run_id: int) -> Any:
        run = history.get_run(run_id)
        path = history.report_file(run, current_app.config["REPORTS_DIR"]) if run else None
        if path is None:
            abort(404, description="No downloadable file for this run.")
        try:
            return send_file(path, as_attachment=True, download_name=path.name,
                             mimetype=MIMETYPES.get(path.suffix, "application/octet-stream"))
        except OSError:  # removed (e.g. pruned) between the check and the send
            abort(404, description="No downloadable file for this run.")

    @expose("/run", methods=("POST",))
    def run_now(self) -> Any:
        defs = load_reports()
        name, period = request.form.get("report", ""), request.form.get("period", "")
        if name not in defs:
            return bad_request(f"unknown report {name!r}; choose from {', '.join(defs)}")
        if period not in PERIODS:
            return bad_request(f"unknown period {period!r}; choose from {', '.join(PERIODS)}")
        defn = defs[name]
        since, until = named_period(period, defn.zone, utcnow())
        # Synchronous: the request waits for the file. Fine for the built-in reports' sizes.
        try:
            run = runner.run_report(defn, since, until)
        except runner.ReportFailed as exc:
            flash(f"{defn.title} ({period}) failed (run {exc.run.id}): {exc}", "error")
        else:
            flash(f"{defn.title} ({period}): {run.rows} rows, {run.bytes} bytes.", "success")
        return redirect(url_for(".index"))
