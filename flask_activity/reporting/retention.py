"""Retention: delete the runs older than their report's ``retention_days``, and their files inside REPORTS_DIR."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import files, runs
from .definition import ReportDefinition


@dataclass(frozen=True)
class Pruned:
    """A run row past its report's retention, and what happened to its file."""

    run_id: int
    report: str
    started_at: datetime
    file: str | None  # the path as recorded
    file_action: str  # 'deleted', 'missing', 'kept: ...' or 'none'


def prune(definitions: Iterable[ReportDefinition] | Mapping[str, ReportDefinition], now: datetime,
          dry_run: bool = False) -> list[Pruned]:
    """Delete run rows older than their report's retention_days, and their files inside REPORTS_DIR.

    Kept: running runs; each report's latest scheduled run (the scheduler's bookmark, so pruning never makes a
    period due again); files outside REPORTS_DIR; files that a kept run still points to.
    """
    defs = definitions.values() if isinstance(definitions, Mapping) else definitions
    root = files.reports_dir()
    out: list[Pruned] = []
    for defn in defs:
        old = runs.expired_runs(defn.name, now - timedelta(days=defn.retention_days))
        still_used = runs.paths_in_use(excluding={r.id for r in old})
        for run in old:
            action = "none"
            if run.path:
                target = files.inside(root, run.path)  # the check downloads use too
                if target is None:
                    action = "kept: outside REPORTS_DIR"
                elif run.path in still_used:
                    action = "kept: a newer run uses it"
                elif not target.is_file() and not target.is_symlink():
                    action = "missing"
                else:
                    if not dry_run:
                        target.unlink()  # a link is removed, never its target
                    action = "deleted"
            out.append(Pruned(run.id, run.report, run.started_at, run.path, action))
        if not dry_run:
            runs.delete(old)
    runs.end_read()
    return out
