"""Running a report: a run row, one read snapshot, the CSV written to an atomic file, the outcome recorded.

The steps have their own owners (``runs``, ``snapshot``, ``writer``, ``files``); this module puts them in order
and turns any failure into a failed run and ReportFailed, leaving no file under the final name.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from flask_activity.reporting.models import ReportRun

from . import runs
from .definition import ReportDefinition, RunContext
from .files import AtomicFile, cleanup_temp_files, final_path, recorded_path
from .snapshot import read_snapshot
from .writer import write_csv

log = logging.getLogger(__name__)


class ReportFailed(RuntimeError):
    """The run started and failed; its row is marked failed with this message."""

    def __init__(self, run: ReportRun, message: str) -> None:
        super().__init__(message)
        self.run = run


def start_run(defn: ReportDefinition, since: datetime, until: datetime, params: dict[str, Any],
              scheduled_for: datetime | None = None) -> ReportRun:
    """Record a run of ``defn`` as started (its own committed transaction)."""
    return runs.start(defn.name, since, until, params, scheduled_for)


def execute(run: ReportRun, defn: ReportDefinition, gzip: bool = False, out: Path | None = None,
            progress: Callable[[int], None] | None = None, kept: bool = True) -> ReportRun:
    """Produce the file for a started run and mark the run succeeded, or failed (and raise ReportFailed).

    ``out`` replaces the file's place in REPORTS_DIR (``report run --out``); ``kept=False``: the caller hands the
    file on and removes it (``--out -``), so the run records no path. A KeyboardInterrupt or SystemExit is
    recorded as a failure too, then goes on up unchanged.
    """
    chunk_size = current_app.config["REPORT_CHUNK_SIZE"]
    target = out or final_path(defn, run.period_start, run.period_end, gzip)
    clock = time.monotonic()
    try:
        sink = AtomicFile(target, run.id, gzip)
        try:
            with read_snapshot() as session:
                lag = session.info["source_lag_s"]
                ctx = RunContext(run.period_start, run.period_end, dict(run.params or {}), defn.zone, session)
                rows = write_csv(sink, defn, ctx, chunk_size, progress)
            sink.commit()
        except BaseException:
            sink.discard()
            raise
    except BaseException as exc:
        message = runs.describe(exc)
        runs.fail(run, message, _elapsed_ms(clock))
        if isinstance(exc, Exception):
            raise ReportFailed(run, message) from exc
        raise
    path = recorded_path(target) if kept else None
    return runs.succeed(run, rows, sink.bytes, sink.sha256, path, lag, _elapsed_ms(clock))


def _elapsed_ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


def run_report(defn: ReportDefinition, since: datetime, until: datetime, params: dict[str, Any] | None = None,
               gzip: bool = False, out: Path | None = None, scheduled_for: datetime | None = None,
               progress: Callable[[int], None] | None = None) -> ReportRun:
    """Start, run and record one report over [since, until); ``params`` default to the report's defaults."""
    values = defn.parse_params({}) if params is None else params
    run = start_run(defn, since, until, values, scheduled_for)
    return execute(run, defn, gzip, out, progress)


def recover() -> None:
    """Start-up housekeeping: runs of dead processes are marked failed, then their temporary files removed."""
    runs.fail_stale_runs()
    cleanup_temp_files(keep_runs=runs.running_ids())


def recover_on_first_request(app: Flask) -> None:
    """Run ``recover()`` at a web process's first request, once: a server stopped during Run now left its run
    'running' and a temporary file, and only the CLI and the scheduler recovered them. A database not ready yet
    (no tables) is logged and tried again at the next request."""
    lock = threading.Lock()
    done = False

    def recover_once() -> None:
        nonlocal done
        if done:
            return
        with lock:
            if done:
                return
            try:
                recover()
            except (SQLAlchemyError, OSError) as exc:
                runs.end_read()  # the extension's own session (state().db), whatever key the host gave it
                log.warning("report runs left running were not recovered yet: %s", runs.describe(exc))
                return
            done = True

    app.before_request(recover_once)
