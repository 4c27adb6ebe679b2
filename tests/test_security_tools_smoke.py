"""Smoke tests of the issue-6 tools that run against a real server: `python -m bench.sqlmap_scan --quick`
and a short `python -m bench.load`. Not the figures (docs/SECURITY.md and docs/RELIABILITY.md have those, with
their commands): proof that the tools still run and that a short run finds what the long one must find (no
injection, no 5xx, no "database is locked", the scheduler's report done). Skipped, with the reason, only when a
tool is missing and CI is not set.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.bench_runs import run_bench_script

pytestmark = pytest.mark.sqlite


def _need(tool: str, install: str) -> None:
    if shutil.which(tool) is None and not (Path(sys.executable).parent / tool).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed ({install}) and CI is set")
        pytest.skip(f"{tool} is not installed ({install})")


def test_sqlmap_finds_the_feed_actor_parameter_not_injectable(tmp_path: Path) -> None:
    _need("sqlmap", "apt-get install -y sqlmap; `make test` installs it")
    _need("gunicorn", "pip install -r requirements-dev.txt")
    result = run_bench_script("sqlmap_scan", ["--quick", "--db", "sqlite"], tmp_path, timeout=240)
    [run] = result["runs"]
    [target] = run["targets"]
    assert (target["path"], target["param"], target["baseline_status"]) == ("/admin/activity/feed.json", "actor", 200)
    assert target["verdict"] == "not injectable" and target["tests"] >= 1, target
    assert run["server"]["tracebacks"] == 0


def test_short_mixed_load_has_no_5xx_no_lock_errors_and_the_scheduled_report_runs(tmp_path: Path) -> None:
    _need("gunicorn", "pip install -r requirements-dev.txt")
    [run] = run_bench_script("load", ["--db", "sqlite", "--seconds", "8", "--clients", "3"], tmp_path,
                             timeout=240)["runs"]
    assert run["requests"] > 50 and run["writes"] > 0
    assert run["5xx"] == 0 and run["connection_errors"] == 0 and run["database_is_locked"] == 0
    assert run["tracebacks"] == 0
    edits = next(k for name, k in run["by_kind"].items() if name.startswith("edit"))
    assert set(edits["statuses"]) == {"302"}, edits  # each edit was saved and redirected, not refused (JSON keys)
    assert run["report_runs"]["statuses"].get("succeeded", 0) >= 1, run["report_runs"]
    assert run["wal_max_mb"] is not None
