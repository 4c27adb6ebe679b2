"""Every signal the app sends, for tests and metrics. Nothing here is on the write path.

Saving a model sends no signal: the activity feed is a query over the audit columns.
These hooks tell an observer what the app *did* (queried, exported, ran a report,
ticked the scheduler, let someone in), and they are optional:

* A sender checks ``signal.receivers`` before building a payload, so an app with no
  subscriber pays one truth test per call site.
* :func:`send` calls each receiver on its own and logs, then ignores, any exception a
  receiver raises: an observer never breaks a request, an export or a report.

The sender is the Flask app (``current_app._get_current_object()``), so a subscriber
may listen to one app only: ``activity_queried.connect(fn, sender=app)``.
"""
from __future__ import annotations

import logging
from typing import Any, cast

from blinker import NamedSignal, Namespace
from flask import Flask, current_app, has_app_context
from werkzeug.local import LocalProxy

log = logging.getLogger(__name__)

namespace = Namespace()

activity_queried = namespace.signal("activity-queried", doc="""\
Sent after the query layer (``flask_activity.activity``) answered: a feed page, a count, an actor summary,
or a full stream of events once it is exhausted or closed.
Keyword arguments: ``kind`` ('page', 'count', 'summary' or 'stream'), ``filters`` (ActivityFilter),
``rows`` (result rows: events for page and stream, (model, action) counts, summary lines) and
``duration`` (seconds, float; for a stream, from the first query to the last row read).""")

export_streamed = namespace.signal("export-streamed", doc="""\
Sent when a CSV export response (activity feed or a model list) has been sent, or closed before its end
(also when closed before the first chunk).
Keyword arguments: ``export`` (``'activity'`` or the model's endpoint, e.g. ``'items'``), ``rows``
(data rows written), ``bytes`` (UTF-8 bytes sent), ``duration`` (seconds) and ``complete``
(False when the client went away before the end).""")

report_started = namespace.signal("report-started", doc="""\
Sent when a report run row has been committed as 'running' (from the CLI, Run now or the scheduler).
Keyword arguments: ``run`` (ReportRun) and ``report`` (its name).""")

report_finished = namespace.signal("report-finished", doc="""\
Sent after a run's file is in place and the run row is committed 'succeeded'.
Keyword arguments: ``run`` (ReportRun), ``report`` (name), ``rows`` (data rows written),
``bytes`` (file size) and ``duration`` (seconds).""")

report_failed = namespace.signal("report-failed", doc="""\
Sent after a run row is committed 'failed' (no file was left under the final name), also for a run found
'running' after its process died or timed out (``fail_stale_runs``, at the next start).
Keyword arguments: ``run`` (ReportRun), ``report`` (name), ``error`` (the message recorded on the
run) and ``duration`` (seconds).""")

delivery_sent = namespace.signal("delivery-sent", doc="""\
Sent after a delivery (email or webhook) was recorded 'sent', or a test 'tested'.
Keyword arguments: ``delivery`` (Delivery), ``channel``, ``status``, ``events`` (events in its window),
``attempts`` and ``lag`` (seconds from the end of its period to now; None for a test).""")

delivery_failed = namespace.signal("delivery-failed", doc="""\
Sent after a delivery was recorded 'failed' (or a test 'test-failed') once its retries were spent.
Keyword arguments: ``delivery`` (Delivery), ``channel``, ``status``, ``events``, ``attempts`` and ``lag``.""")

scheduler_tick = namespace.signal("scheduler-tick", doc="""\
Sent at the end of every scheduler tick, also one that claimed nothing, stopped early or raised.
Keyword arguments: ``now`` (the tick's UTC time), ``due`` (list of (report name, Due) periods owed),
``claimed`` (ReportRun rows this process claimed; the other due periods went to another scheduler)
and ``result`` (the full TickResult, with ran, failed and missed runs).""")

login_succeeded = namespace.signal("login-succeeded", doc="""\
Sent when a user logged in through the login form.
Keyword arguments: ``user`` (User) and ``remote_addr`` (the client address as the WSGI server saw it).""")

login_failed = namespace.signal("login-failed", doc="""\
Sent when a login form that passed validation (CSRF token, email and password present) named no active
user with that password. A form that fails validation is a 400 and sends nothing.
Keyword arguments: ``email`` (as typed), ``remote_addr`` and ``reason`` ('unknown-user',
'wrong-password' or 'inactive'; the page itself says the same thing for all three).""")

ALL: tuple[NamedSignal, ...] = tuple(namespace[name] for name in sorted(namespace))


def app_sender() -> Any:
    """The current Flask app, or None outside an app context."""
    return cast("LocalProxy[Flask]", current_app)._get_current_object() if has_app_context() else None


def send(signal: NamedSignal, sender: Any = None, **kwargs: Any) -> None:
    """Call every receiver of ``signal`` for ``sender`` (default: the current app), isolating failures.

    A receiver that raises is logged with its traceback and skipped; the remaining receivers
    still run and the caller carries on. Callers test ``signal.receivers`` first, so that the
    keyword arguments are only built when someone listens.
    """
    if not signal.receivers or signal.is_muted:
        return
    if sender is None:
        sender = app_sender()
    for receiver in signal.receivers_for(sender):
        try:
            receiver(sender, **kwargs)
        except Exception:  # an observer must never break the work it observes (logged, then ignored)
            log.exception("receiver %r of signal %r raised; ignored", receiver, signal.name)
