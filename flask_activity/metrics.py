"""Prometheus metrics built from the app's signals, served at /metrics. Off unless METRICS_ENABLED=true.

Disabled, nothing here runs: no receiver is connected and /metrics does not exist.
Enabled, one ``Metrics`` per app connects its receivers to that app only, and /metrics
answers an admin who is logged in, or a scraper sending ``Authorization: Bearer
<METRICS_TOKEN>``.

Several processes (the web server and ``report schedule``, or several web workers): set
PROMETHEUS_MULTIPROC_DIR to the same empty folder for all of them before they start;
each process then writes its values to files there and /metrics sums them (see README).
"""
from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

from . import signals
from .errors import ConfigError
from .state import state

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ROW_BUCKETS = (0, 1, 10, 20, 50, 100, 500, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
REPORT_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600)

bp = Blueprint("metrics", __name__)


class Metrics:
    """The app's metrics in their own registry, and the receivers that feed them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.query_seconds = Histogram("admin_activity_query_seconds", "Time to answer an activity query.",
                                       ["kind"], buckets=LATENCY_BUCKETS, registry=r)
        self.query_rows = Histogram("admin_activity_query_rows", "Rows returned by an activity query.",
                                    ["kind"], buckets=ROW_BUCKETS, registry=r)
        self.export_rows = Counter("admin_export_rows", "CSV rows streamed by exports.", ["export"], registry=r)
        self.export_bytes = Counter("admin_export_bytes", "CSV bytes streamed by exports.", ["export"], registry=r)
        self.export_seconds = Histogram("admin_export_seconds", "Time to stream one CSV export.", ["export"],
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.exports_incomplete = Counter("admin_exports_incomplete", "Exports the client abandoned before the end.",
                                          ["export"], registry=r)
        self.report_runs = Counter("admin_report_runs", "Report runs that ended, by report and status.",
                                   ["report", "status"], registry=r)
        self.report_seconds = Histogram("admin_report_duration_seconds", "Time a report run took.",
                                        ["report", "status"], buckets=REPORT_BUCKETS, registry=r)
        self.report_rows = Counter("admin_report_rows", "Rows written by succeeded report runs.", ["report"],
                                   registry=r)
        self.report_last_success = Gauge("admin_report_last_success_timestamp_seconds",
                                         "Unix time the report last succeeded.", ["report"],
                                         multiprocess_mode="max", registry=r)
        self.ticks = Counter("admin_scheduler_ticks", "Scheduler ticks.", registry=r)
        self.due = Counter("admin_scheduler_due_periods", "Report periods found due by the scheduler.", registry=r)
        self.claimed = Counter("admin_scheduler_claimed_periods", "Due periods this process claimed.", registry=r)
        self.deliveries = Counter("admin_deliveries", "Subscription deliveries that ended, by channel and status.",
                                  ["channel", "status"], registry=r)
        self.delivery_attempts = Counter("admin_delivery_attempts", "Send attempts of deliveries, by channel.",
                                         ["channel"], registry=r)
        self.delivery_lag = Histogram("admin_delivery_lag_seconds", "From the end of a delivered period to its "
                                      "delivery.", ["channel"], registry=r,
                                      buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600, 6 * 3600, 86400))
        self.logins = Counter("admin_logins", "Successful logins.", registry=r)
        self.login_failures = Counter("admin_login_failures", "Refused logins, by reason.", ["reason"], registry=r)

    def disconnect(self) -> None:
        """Unsubscribe every receiver (the benchmark measures with and without them)."""
        for signal, receiver in self.receivers().items():
            signal.disconnect(receiver)

    def connect(self, app: Flask) -> None:
        """Subscribe to every signal, for ``app`` only.

        Weakly: ``app.extensions`` keeps this object alive, and when the app goes away so do its
        receivers (blinker drops a dead *sender* from its index but keeps strongly held receivers,
        which would leave ``signal.receivers`` true and payloads built for nobody).
        """
        for signal, receiver in self.receivers().items():
            signal.connect(receiver, sender=app)

    def receivers(self) -> dict[Any, Any]:
        return {
            signals.activity_queried: self.on_activity_queried,
            signals.export_streamed: self.on_export_streamed,
            signals.report_finished: self.on_report_finished,
            signals.report_failed: self.on_report_failed,
            signals.scheduler_tick: self.on_scheduler_tick,
            signals.delivery_sent: self.on_delivery,
            signals.delivery_failed: self.on_delivery,
            signals.login_succeeded: self.on_login_succeeded,
            signals.login_failed: self.on_login_failed,
        }

    def on_activity_queried(self, sender: Any, *, kind: str, rows: int, duration: float, **_: Any) -> None:
        self.query_seconds.labels(kind).observe(duration)
        self.query_rows.labels(kind).observe(rows)

    def on_export_streamed(self, sender: Any, *, export: str, rows: int, bytes: int, duration: float,
                           complete: bool, **_: Any) -> None:
        self.export_rows.labels(export).inc(rows)
        self.export_bytes.labels(export).inc(bytes)
        self.export_seconds.labels(export).observe(duration)
        if not complete:
            self.exports_incomplete.labels(export).inc()

    def on_report_finished(self, sender: Any, *, report: str, rows: int, duration: float, **_: Any) -> None:
        self.report_runs.labels(report, "succeeded").inc()
        self.report_seconds.labels(report, "succeeded").observe(duration)
        self.report_rows.labels(report).inc(rows)
        self.report_last_success.labels(report).set_to_current_time()

    def on_report_failed(self, sender: Any, *, report: str, duration: float, **_: Any) -> None:
        self.report_runs.labels(report, "failed").inc()
        self.report_seconds.labels(report, "failed").observe(duration)

    def on_scheduler_tick(self, sender: Any, *, due: list[Any], claimed: list[Any], **_: Any) -> None:
        self.ticks.inc()
        self.due.inc(len(due))
        self.claimed.inc(len(claimed))

    def on_delivery(self, sender: Any, *, channel: str, status: str, attempts: int, lag: float | None,
                    **_: Any) -> None:
        self.deliveries.labels(channel, status).inc()
        self.delivery_attempts.labels(channel).inc(attempts)
        if lag is not None:
            self.delivery_lag.labels(channel).observe(lag)

    def on_login_succeeded(self, sender: Any, **_: Any) -> None:
        self.logins.inc()

    def on_login_failed(self, sender: Any, *, reason: str, **_: Any) -> None:
        self.login_failures.labels(reason).inc()


def init_metrics(app: Flask) -> None:
    """Connect the metrics and add /metrics when METRICS_ENABLED; otherwise do nothing at all."""
    if not app.config["METRICS_ENABLED"]:
        return
    if app.config.get("PROMETHEUS_MULTIPROC_DIR") and values.ValueClass is values.MutexValue:
        # prometheus_client chose in-memory values at import: this process's counts would never reach the folder.
        raise ConfigError("PROMETHEUS_MULTIPROC_DIR must be in the environment before the process starts "
                          "(prometheus_client reads it at import); setting it in the app's config is not enough")
    metrics = Metrics()
    app.extensions["metrics"] = metrics
    metrics.connect(app)
    app.register_blueprint(bp)


def _exposition_registry() -> CollectorRegistry:
    folder = current_app.config.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:  # every process's values, summed from their files
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)
        return registry
    return current_app.extensions["metrics"].registry


def _refuse(status: int, message: str) -> Response:
    response = Response(message + "\n", status=status, mimetype="text/plain")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@bp.route("/metrics")
def metrics() -> Response:
    """The Prometheus text format, for an admin or a scraper with the bearer token."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":  # other schemes (a proxy's Basic auth) fall through to the session
        token = current_app.config.get("METRICS_TOKEN") or ""
        if not token or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return _refuse(401, "metrics: the bearer token is wrong (see METRICS_TOKEN)")
    elif not current_user.is_authenticated:
        return _refuse(401, "metrics: log in as an admin, or send Authorization: Bearer <METRICS_TOKEN>")
    elif not state().can_administer(current_user):
        abort(403)
    response = Response(generate_latest(_exposition_registry()), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
