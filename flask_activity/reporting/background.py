"""Run now in the background: a web process hands a queued run to a small pool of worker threads and answers.

Bounded twice: ``REPORT_RUN_NOW_WORKERS`` threads run reports, and at most ``REPORT_RUN_NOW_QUEUE`` runs wait or
run in one process; past that Run now is refused with a message rather than piling up work. A run is 'queued'
by the request and moved to 'running' by its worker (compare-and-set), so a worker never starts a run twice.
A process that dies with runs queued or running leaves them to ``runs.fail_stale_runs``, as any dead run.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from flask import Flask, current_app

from flask_activity.reporting.models import ReportRun

from ..errors import ConfigError
from ..state import EXTENSION_KEY
from . import runner, runs
from .definition import ReportError
from .registry import get_report

log = logging.getLogger(__name__)
QUEUE_KEY = f"{EXTENSION_KEY}.run_now"


class QueueFull(RuntimeError):
    """This process already has REPORT_RUN_NOW_QUEUE runs waiting or running."""


class RunQueue:
    """One app's Run now workers (created on first use, in the process that serves: safe under a forking server)."""

    def __init__(self, app: Flask, workers: int, capacity: int) -> None:
        self.app = app
        self.capacity = capacity
        self._slots = threading.BoundedSemaphore(capacity)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run-now")

    def submit(self, run_id: int) -> Future[ReportRun | None]:
        """Start run ``run_id`` (already 'queued') on a worker; QueueFull when every slot is taken."""
        if not self._slots.acquire(blocking=False):
            raise QueueFull(f"{self.capacity} runs are already queued or running in this server process; "
                            "try again when one has finished")
        try:
            return self._pool.submit(self._run, run_id)
        except BaseException:
            self._slots.release()
            raise

    def _run(self, run_id: int) -> ReportRun | None:
        try:
            with self.app.app_context():
                try:
                    run = runs.begin_queued(run_id)
                    if run is None:
                        return None  # no longer queued (failed by recovery, say)
                    try:
                        return runner.execute(run, get_report(run.report))
                    except runner.ReportFailed as exc:
                        log.warning("Run now of %s (run %s) failed: %s", run.report, run_id, exc)
                        return exc.run
                    except (ReportError, ConfigError) as exc:  # its report gone from REPORT_MODULES meanwhile, say
                        log.warning("Run now of %s (run %s) could not start: %s", run.report, run_id, exc)
                        return runs.fail(run, runs.describe(exc), 0)  # not left 'running' to block its period
                finally:
                    runs.close_session()
        except Exception:  # the worker thread must survive (the database itself failed, say); recovery or
            log.exception("Run now of run %s could not be run", run_id)  # REPORT_RUN_TIMEOUT ends such a row
            return None
        finally:
            self._slots.release()


def run_queue() -> RunQueue:
    """The current app's Run now queue, created at first use."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(QUEUE_KEY)
    if found is None:
        found = app.extensions.setdefault(QUEUE_KEY, RunQueue(
            app, app.config["REPORT_RUN_NOW_WORKERS"], app.config["REPORT_RUN_NOW_QUEUE"]))
    return found
