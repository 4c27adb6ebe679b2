"""Measuring: medians and p95 of timed calls, child processes under /usr/bin/time, the machine's description."""
from __future__ import annotations

import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench import ROOT

TIME = "/usr/bin/time"


def log(msg: str = "") -> None:
    print(msg, flush=True)


def summarize(times_ms: list[float]) -> dict[str, Any]:
    """Median, p95 (nearest rank), minimum and count of timings in milliseconds."""
    s = sorted(times_ms)
    return {"median_ms": round(statistics.median(s), 3), "p95_ms": round(s[max(0, math.ceil(0.95 * len(s)) - 1)], 3),
            "min_ms": round(s[0], 3), "n": len(s)}


def measure(fn: Callable[[], Any], repeat: int, budget: float, warm: bool = True) -> dict[str, Any]:
    """Median and p95 of ``repeat`` timed calls (fewer, at least 3, if they would take over ``budget`` s)."""
    if warm:
        fn()
    times: list[float] = []
    n = repeat
    for i in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
        if i == 0 and times[0] / 1000 * repeat > budget:
            n = max(3, min(repeat, int(budget / (times[0] / 1000))))
        if len(times) >= n:
            break
    return summarize(times)


def machine_info() -> dict[str, Any]:
    """Cores, CPU, memory, kernel and the versions of everything a figure depends on."""
    mem = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable"):
            mem[key] = round(int(rest.split()[0]) / 1024 / 1024, 1)
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions: dict[str, str | None] = {"python": platform.python_version(), "sqlite_library": sqlite3.sqlite_version}
    for pkg in ("Flask", "Flask-Admin", "SQLAlchemy", "psycopg", "pandas", "gunicorn", "waitress"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    for tool, cmd in (("sqlite3_cli", ["sqlite3", "--version"]), ("wrk", ["wrk", "--version"]),
                      ("psql", ["psql", "--version"])):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            versions[tool] = (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            versions[tool] = None
    return {"cores": os.cpu_count(), "cpu": cpu, "mem_total_gib": mem.get("MemTotal"),
            "mem_available_gib": mem.get("MemAvailable"), "kernel": platform.release(), "versions": versions}


def run_measured(cmd: list[str], env: dict[str, str] | None = None, stdout_path: Path | None = None,
                 timeout: float = 3600) -> dict[str, Any]:
    """Run ``cmd`` under /usr/bin/time; wall seconds, peak RSS (MB), exit code, stdout (unless redirected)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [TIME, "-f", "%e %M", "-o", tf.name, *cmd]
        started = time.perf_counter()
        if stdout_path:
            with open(stdout_path, "wb") as out_fh:
                proc = subprocess.run(full, env=env, stdout=out_fh, stderr=subprocess.PIPE, timeout=timeout, cwd=ROOT)
        else:
            proc = subprocess.run(full, env=env, capture_output=True, timeout=timeout, cwd=ROOT)
        wall = time.perf_counter() - started
        parts = Path(tf.name).read_text().split()
    rss_mb = round(int(parts[-1]) / 1024, 1) if parts and parts[-1].isdigit() else None
    return {"returncode": proc.returncode, "wall_s": round(wall, 3), "peak_rss_mb": rss_mb,
            "stdout": proc.stdout.decode(errors="replace") if proc.stdout else "",
            "stderr": proc.stderr.decode(errors="replace")[-2000:]}


def child_json(res: dict[str, Any]) -> dict[str, Any]:
    """The last JSON line a Python child printed."""
    for line in reversed(res["stdout"].strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise RuntimeError(f"child printed no JSON (exit {res['returncode']}): {res['stderr'][-800:]}")


def count_csv_rows(path: Path) -> int:
    """Data rows of a CSV file (lines minus the header; the benchmark's labels have no newlines)."""
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
    return max(0, n - 1)
