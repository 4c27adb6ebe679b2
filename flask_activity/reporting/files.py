"""Report files on disk: where they go, writing one atomically, leftover temporary files, and the one check that a
recorded path lies inside REPORTS_DIR (for downloads and for pruning).

A file is written to a temporary name in the destination folder, flushed, fsynced, renamed over the final name
with os.replace and the folder fsynced, so a killed run never leaves a partial report under the final name.
Leftover temporary files are removed at the next start (``cleanup_temp_files``).
"""
from __future__ import annotations

import gzip as gzip_module
import hashlib
import logging
import os
from datetime import datetime
from pathlib import Path

from flask import current_app

from flask_activity.reporting.models import ReportRun

from .definition import ReportDefinition, ReportError
from .periods import label

TMP_SUFFIX = ".tmp"
log = logging.getLogger(__name__)


def reports_dir() -> Path:
    """REPORTS_DIR: the folder report files are written to and downloaded from."""
    return Path(current_app.config["REPORTS_DIR"])


def final_path(defn: ReportDefinition, since: datetime, until: datetime, gzip: bool = False) -> Path:
    """REPORTS_DIR/<report>/<report>_<start>_<end>.csv[.gz]: re-running a period replaces its file."""
    name = f"{defn.name}_{label(since, defn.zone)}_{label(until, defn.zone)}.csv" + (".gz" if gzip else "")
    return reports_dir() / defn.name / name


def recorded_path(target: Path) -> str:
    """The path a run records: relative to REPORTS_DIR, or absolute for a file written elsewhere (``--out``),
    which the admin never offers for download."""
    try:
        return str(target.relative_to(reports_dir()))
    except ValueError:
        return str(target)


def inside(root: Path, recorded: str) -> Path | None:
    """The file a recorded path names if it lies inside ``root`` and no link leads out of it; None otherwise.

    Refused: an empty path, ``root`` itself, absolute paths, ``..`` parts, NUL bytes, and any path whose real
    location (links followed) is outside ``root``. The path returned is not resolved: deleting it removes a link,
    never its target.
    """
    path = Path(recorded)
    if not recorded or path.is_absolute() or ".." in path.parts:
        return None
    target = root / path
    try:
        real_root, real = root.resolve(), target.resolve()
    except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops
        return None
    if real == real_root or not real.is_relative_to(real_root):
        return None
    return target


def file_sha256(path: Path) -> str:
    """The SHA-256 of the bytes on disk, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def run_location(run: ReportRun, root: str | Path, superseded_by: int | None = None) -> str:
    """Where a run's output went, in words, for the run history (page and ``report history``): the file in
    REPORTS_DIR, a file written elsewhere (``--out FILE``), standard output (``--out -``: no file was kept), or
    nothing yet (running) or any more (failed, removed, or replaced by a newer run of the same period)."""
    if run.status in ("queued", "running"):
        return run.status
    if run.status != "succeeded":
        return ""
    if not run.path:
        return "written to standard output (no file kept)"
    if Path(run.path).is_absolute():
        return f"written to {run.path}, outside the reports folder"
    if superseded_by is not None:
        return f"superseded by run {superseded_by} (same period, same file)"
    return run.path if report_file(run, root) is not None else "file no longer available"


def report_file(run: ReportRun, root: str | Path) -> Path | None:
    """The file of a succeeded run, only if it exists inside ``root`` (REPORTS_DIR); None otherwise.

    Resolved (links followed, as checked by ``inside``), so what is sent is the file that was checked.
    """
    if run.status != "succeeded" or not run.path:
        return None
    target = inside(Path(root), run.path)
    return target.resolve() if target is not None and target.is_file() else None


def cannot_write(folder: Path, exc: OSError) -> ReportError:
    """A disk error as a message an operator can act on (full disk, read-only folder, I/O error)."""
    return ReportError(f"cannot write to {folder}: {exc.strerror or exc}")


def remove_quietly(path: Path) -> bool:
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


class AtomicFile:
    """A report file written under a temporary name next to ``target``, optionally gzipped, with its size and the
    SHA-256 of the bytes on disk counted as they land.

    ``commit()`` puts it under ``target``; ``discard()`` removes it. Disk errors (ENOSPC, EROFS, EIO) come out as
    ReportError naming the folder.
    """

    def __init__(self, target: Path, run_id: int, gzip: bool = False) -> None:
        self.target, self.folder = target, target.parent
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.gz: gzip_module.GzipFile | None = None
        self._discarded = self._renamed = False
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise cannot_write(self.folder, exc) from None
        self.tmp = self.folder / f".{target.name}.{run_id}{TMP_SUFFIX}"
        try:
            self.raw = open(self.tmp, "xb")  # noqa: SIM115 - closed by commit() or discard(), never left open
        except OSError as exc:
            remove_quietly(self.tmp)
            raise cannot_write(self.folder, exc) from None
        if gzip:
            try:
                self.gz = gzip_module.GzipFile(fileobj=self, mode="wb", mtime=0)  # writes the gzip header
            except BaseException:
                self.discard()
                raise

    @property
    def sha256(self) -> str:
        return self.sha.hexdigest()

    def write(self, data: bytes) -> int:
        """Bytes to disk (GzipFile calls this with compressed bytes); after discard() they are dropped."""
        if self._discarded:  # a half-written gzip stream finishing itself when collected
            return len(data)
        try:
            self.raw.write(data)
        except OSError as exc:
            raise cannot_write(self.folder, exc) from None
        self.sha.update(data)
        self.bytes += len(data)
        return len(data)

    def write_text(self, text: str) -> None:
        """Text as UTF-8, through gzip when the file is compressed."""
        data = text.encode("utf-8")
        (self.gz or self).write(data)

    def flush(self) -> None:
        self.raw.flush()

    def commit(self) -> None:
        """Finish the file (gzip trailer, flush, fsync), rename it over ``target`` and fsync the folder."""
        if self.gz is not None:
            self.gz.close()
        try:
            self.raw.flush()
            os.fsync(self.raw.fileno())
            self.raw.close()
        except OSError as exc:
            raise cannot_write(self.folder, exc) from None
        try:
            os.replace(self.tmp, self.target)
            self._renamed = True
            _fsync_dir(self.folder)
        except OSError as exc:
            raise cannot_write(self.folder, exc) from None

    def discard(self) -> None:
        """Close without finishing and remove the temporary file. Never raises: the first error is the one to
        report (closing flushes what is buffered, which on a full disk fails again)."""
        self._discarded = True
        if self.gz is not None:
            self.gz.close()  # its trailer goes nowhere now; nothing is left to write when it is collected
        try:
            self.raw.close()
        except OSError:
            log.debug("closing the discarded %s failed again", self.tmp)
        if not self._renamed:
            remove_quietly(self.tmp)


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
            if remove_quietly(path):
                removed.append(path)
    return removed
