"""Running a report: one read snapshot, rows streamed in chunks through pandas, an atomic file, a run row.

The file is written to a temporary name in the destination folder, flushed, fsynced, renamed
over the final name with os.replace and the folder fsynced, so a killed run never leaves a
partial report under the final name. Leftover temporary files are removed at the next start.
"""
from __future__ import annotations

import gzip as gzip_module
import hashlib
import io
import itertools
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .. import signals
from ..csvsafe import Chunk, csv_chunks, safe_cell
from ..extensions import db
from ..models import ReportRun
from ..types import utcnow
from .definition import ReportDefinition, ReportError, RunContext
from .periods import label

if TYPE_CHECKING:
    import pandas as pd

TMP_SUFFIX = ".tmp"
log = logging.getLogger(__name__)


class ReportFailed(RuntimeError):
    """The run started and failed; its row is marked failed with this message."""

    def __init__(self, run: ReportRun, message: str) -> None:
        super().__init__(message)
        self.run = run


def reports_dir() -> Path:
    return Path(current_app.config["REPORTS_DIR"])


def final_path(defn: ReportDefinition, since: datetime, until: datetime, gzip: bool = False) -> Path:
    """REPORTS_DIR/<report>/<report>_<start>_<end>.csv[.gz]: re-running a period replaces its file."""
    name = f"{defn.name}_{label(since, defn.zone)}_{label(until, defn.zone)}.csv" + (".gz" if gzip else "")
    return reports_dir() / defn.name / name


def reports_engine() -> Engine:
    """Where reports read: REPORTS_DATABASE_URL (a read replica) if set, else the main database."""
    return db.engines["reports"] if "reports" in db.engines else db.engine


@contextmanager
def read_snapshot() -> Iterator[Session]:
    """A session on its own connection inside one read transaction: every query sees one snapshot.

    On PostgreSQL the transaction is read-only, REPORT_STATEMENT_TIMEOUT bounds each statement, and
    ``session.info["source_lag_s"]`` holds how far behind its primary a replica was (None on a primary).
    """
    conn: Connection = reports_engine().connect()
    lag = None
    try:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            timeout = int(current_app.config["REPORT_STATEMENT_TIMEOUT"])
            if timeout > 0:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout * 1000}")  # an int, not input
            lag = conn.exec_driver_sql(
                "SELECT CASE WHEN pg_is_in_recovery() "
                "THEN COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END").scalar()
        else:
            conn.exec_driver_sql("BEGIN")  # SQLite (WAL): the snapshot is taken at the first read
        with Session(bind=conn) as session:
            session.info["source_lag_s"] = None if lag is None else float(lag)
            yield session
    finally:
        try:
            conn.exec_driver_sql("ROLLBACK")
        except Exception:  # noqa: BLE001 - nothing to roll back
            pass
        conn.close()


def _chunks(defn: ReportDefinition, ctx: RunContext, size: int) -> Iterator[list[Sequence[Any]]]:
    if defn.query is not None:
        result = ctx.session.execute(defn.query(ctx).execution_options(stream_results=True, yield_per=size))
        for part in result.partitions(size):
            yield [tuple(r) for r in part]
        return
    rows = iter(defn.rows(ctx))  # type: ignore[misc]
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def _write_raw(sink: _HashingFile, defn: ReportDefinition, ctx: RunContext, size: int,
               progress: Callable[[int], None] | None) -> int:
    """Rows (each cell through the formula guard) or rendered CSVText straight to CSV, no pandas; returns the row count."""
    rows = 0

    def counted() -> Iterator[Chunk]:
        nonlocal rows
        for chunk in defn.chunks(ctx, size):  # type: ignore[misc]
            rows += len(chunk)
            if progress:
                progress(len(chunk))
            yield chunk

    for piece in csv_chunks(defn.columns, counted()):
        sink.write_text(piece)
    return rows


def _safe(value: Any) -> Any:
    if value is None or type(value).__name__ == "NaTType":  # pandas' missing time, without importing pandas
        return ""
    return safe_cell(value)


def _csv_text(frame: pd.DataFrame, header: bool) -> str:
    """One chunk as RFC 4180 text; every cell and header through the shared formula guard."""
    safe = frame.map(_safe)
    safe.columns = [_safe(c) for c in frame.columns]
    buf = io.StringIO()
    safe.to_csv(buf, header=header, index=False, lineterminator="\r\n")
    return buf.getvalue()


def _cannot_write(folder: Path, exc: OSError) -> ReportError:
    """A disk error as a message an operator can act on (full disk, read-only folder, I/O error)."""
    return ReportError(f"cannot write to {folder}: {exc.strerror or exc}")


class _HashingFile:
    """Write bytes to a file (optionally gzip) while counting them and hashing what lands on disk.

    Disk errors (ENOSPC, EROFS, EIO) come out as ReportError naming the folder.
    """

    def __init__(self, path: Path, gzip: bool) -> None:
        self.folder = path.parent
        self.raw = open(path, "xb")  # noqa: SIM115 - closed in finish() or abort()
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.gz = None
        if gzip:
            try:
                self.gz = gzip_module.GzipFile(fileobj=self, mode="wb", mtime=0)  # writes the gzip header
            except BaseException:
                self.abort()
                raise

    def write(self, data: bytes) -> int:  # called by GzipFile with compressed bytes
        try:
            self.raw.write(data)
        except OSError as exc:
            raise _cannot_write(self.folder, exc) from None
        self.sha.update(data)
        self.bytes += len(data)
        return len(data)

    def write_text(self, text: str) -> None:
        data = text.encode("utf-8")
        (self.gz or self).write(data)

    def flush(self) -> None:
        self.raw.flush()

    def finish(self) -> None:
        if self.gz is not None:
            self.gz.close()
        try:
            self.raw.flush()
            os.fsync(self.raw.fileno())
            self.raw.close()
        except OSError as exc:
            raise _cannot_write(self.folder, exc) from None

    def abort(self) -> None:
        """Close without finishing; the caller deletes the file. Never raises: the first error is the one to report."""
        if self.gz is not None:
            self.gz.fileobj = None  # no gzip trailer is written when the object is collected
        try:
            self.raw.close()  # flushes what is buffered: on a full disk that fails again
        except OSError:
            pass


def _remove(path: Path) -> bool:
    """Delete a temporary file if the disk lets us; a file left behind is removed at the next start.

    Never raises: it runs while a failure is being recorded (and a read-only folder refuses even
    the removal of a file that is not there, with EROFS rather than ENOENT).
    """
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc.strerror or exc)
        return False
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def describe(exc: BaseException) -> str:
    """The message recorded for a failed run: ours as is, a database error as its first line, else type and text."""
    if isinstance(exc, ReportError):
        return str(exc)
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        return f"database error: {first}"
    return f"{type(exc).__name__}: {exc}"


def start_run(defn: ReportDefinition, since: datetime, until: datetime, params: dict[str, Any],
              scheduled_for: datetime | None = None) -> ReportRun:
    """Record a run as started (its own committed transaction)."""
    run = ReportRun(report=defn.name, params=params, period_start=since, period_end=until,
                    scheduled_for=scheduled_for, status="running", host=socket.gethostname(), pid=os.getpid())
    db.session.add(run)
    db.session.commit()
    if signals.report_started.receivers:
        signals.send(signals.report_started, run=run, report=defn.name)
    return run


def execute(run: ReportRun, defn: ReportDefinition, gzip: bool = False, out: Path | None = None,
            progress: Callable[[int], None] | None = None) -> ReportRun:
    """Produce the file for a started run and mark the run succeeded, or failed (and raise ReportFailed)."""
    chunk_size = current_app.config["REPORT_CHUNK_SIZE"]
    target = out or final_path(defn, run.period_start, run.period_end, gzip)
    clock = time.monotonic()
    tmp: Path | None = None
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.parent / f".{target.name}.{run.id}{TMP_SUFFIX}"
            sink = _HashingFile(tmp, gzip)
        except OSError as exc:
            raise _cannot_write(target.parent, exc) from None
        rows, lag = 0, None
        try:
            with read_snapshot() as session:
                lag = session.info["source_lag_s"]
                ctx = RunContext(run.period_start, run.period_end, dict(run.params or {}), defn.zone, session)
                if defn.chunks is not None:
                    rows = _write_raw(sink, defn, ctx, chunk_size, progress)
                else:
                    import pandas as pd  # here, not at import: the app and raw-row reports run without it (~60 MB)

                    sink.write_text(_csv_text(pd.DataFrame(columns=list(defn.columns)), header=True))
                    for chunk in _chunks(defn, ctx, chunk_size):
                        # dtype=object: no inference, so a nullable id stays 3 (not 3.0) and times stay aware
                        frame = pd.DataFrame(chunk, columns=list(defn.columns), dtype=object)
                        sink.write_text(_csv_text(frame, header=False))
                        rows += len(chunk)
                        if progress:
                            progress(len(chunk))
            sink.finish()
        except BaseException:
            sink.abort()
            raise
        try:
            os.replace(tmp, target)
            tmp = None
            _fsync_dir(target.parent)
        except OSError as exc:
            raise _cannot_write(target.parent, exc) from None
    except BaseException as exc:
        if tmp is not None:
            _remove(tmp)
        message = describe(exc)
        db.session.rollback()
        run.status, run.error = "failed", message[:4000]
        run.finished_at = utcnow()
        run.duration_ms = int((time.monotonic() - clock) * 1000)
        db.session.commit()
        if signals.report_failed.receivers:
            signals.send(signals.report_failed, run=run, report=defn.name, error=run.error,
                         duration=run.duration_ms / 1000)
        if isinstance(exc, Exception):
            raise ReportFailed(run, message) from exc
        raise
    run.status, run.rows, run.bytes, run.sha256 = "succeeded", rows, sink.bytes, sink.sha.hexdigest()
    run.source_lag_ms = None if lag is None else int(lag * 1000)
    try:
        run.path = str(target.relative_to(reports_dir()))
    except ValueError:
        run.path = str(target)  # --out outside the reports folder: not downloadable from the admin
    run.finished_at = utcnow()
    run.duration_ms = int((time.monotonic() - clock) * 1000)
    db.session.commit()
    if signals.report_finished.receivers:
        signals.send(signals.report_finished, run=run, report=defn.name, rows=rows, bytes=sink.bytes,
                     duration=run.duration_ms / 1000)
    return run


def run_report(defn: ReportDefinition, since: datetime, until: datetime, params: dict[str, Any] | None = None,
               gzip: bool = False, out: Path | None = None, scheduled_for: datetime | None = None,
               progress: Callable[[int], None] | None = None) -> ReportRun:
    """Start, run and record one report over [since, until)."""
    values = defn.parse_params({}) if params is None else params
    run = start_run(defn, since, until, values, scheduled_for)
    return execute(run, defn, gzip, out, progress)


def cleanup_temp_files(root: Path | None = None, keep_runs: set[int] | None = None) -> list[Path]:
    """Remove temporary files left by killed runs; return what was removed.

    Temporary names end in ``.<run id>.tmp``; files of runs in ``keep_runs`` (still being
    written by a live process) are left alone.
    """
    root = root or reports_dir()
    keep = keep_runs or set()
    removed = []
    if root.exists():
        for path in root.rglob(f".*{TMP_SUFFIX}"):
            run_id = path.name[: -len(TMP_SUFFIX)].rsplit(".", 1)[-1]
            if run_id.isdigit() and int(run_id) in keep:
                continue
            if _remove(path):
                removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale_runs(now: datetime | None = None) -> list[ReportRun]:
    """Mark failed the runs left 'running' by a dead process (same host) or older than the timeout."""
    now = now or utcnow()
    timeout = timedelta(seconds=current_app.config["REPORT_RUN_TIMEOUT"])
    host = socket.gethostname()
    stale = []
    for run in db.session.scalars(select(ReportRun).where(ReportRun.status == "running")):
        if run.host == host and run.pid and run.pid != os.getpid() and not _alive(run.pid):
            run.error = f"the process running it (pid {run.pid}) ended before it finished"
        elif run.started_at < now - timeout:
            run.error = f"still running after {timeout}; marked failed"
        else:
            continue
        run.status, run.finished_at = "failed", now
        stale.append(run)
    db.session.commit()
    if stale and signals.report_failed.receivers:  # a crash is the failure an operator most wants to hear of
        for run in stale:
            signals.send(signals.report_failed, run=run, report=run.report, error=run.error,
                         duration=(now - run.started_at).total_seconds())
    return stale


def fail_unrecorded_runs(reason: str, now: datetime | None = None) -> list[ReportRun]:
    """Mark failed this process's runs left 'running' because their outcome could not be written.

    For a process that runs one report at a time (the scheduler) and has none in progress: a run whose last
    commit met a database outage is still 'running' under a live pid, which fail_stale_runs leaves alone.
    """
    now = now or utcnow()
    stale = list(db.session.scalars(select(ReportRun).where(
        ReportRun.status == "running", ReportRun.host == socket.gethostname(), ReportRun.pid == os.getpid())))
    for run in stale:
        run.status, run.finished_at = "failed", now
        run.error = f"the outcome of the run could not be recorded: {reason}"[:4000]
    db.session.commit()
    if stale and signals.report_failed.receivers:
        for run in stale:
            signals.send(signals.report_failed, run=run, report=run.report, error=run.error,
                         duration=(now - run.started_at).total_seconds())
    return stale


def recover() -> None:
    """Start-up housekeeping: runs of dead processes are marked failed, then their temporary files removed."""
    fail_stale_runs()
    live = set(db.session.scalars(select(ReportRun.id).where(ReportRun.status == "running")))
    cleanup_temp_files(keep_runs=live)
