"""Smoke test of the benchmark suite: `python -m bench.suite --quick --db sqlite` runs and writes every section.

Not a benchmark: a tiny size (2,000 items), 3 repeats and 2 s of load, in a subprocess. It is skipped only when
a tool the suite needs is not installed (wrk, sqlite3, /usr/bin/time, gunicorn), with that reason.
"""
from __future__ import annotations

import shutil
import sys
from numbers import Number
from pathlib import Path

import pytest

from tests.bench_runs import run_bench_script

pytestmark = pytest.mark.sqlite


def _missing() -> str | None:
    for tool in ("wrk", "sqlite3"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y {tool}; `make bench` installs it)"
    if not Path("/usr/bin/time").exists():
        return "/usr/bin/time is not installed (apt-get install -y time)"
    if not (Path(sys.executable).parent / "gunicorn").exists():
        return "gunicorn is not installed (pip install -r requirements-dev.txt)"
    return None


def _numbers(section: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(section[key], Number), (key, section[key])


def test_suite_quick_run_writes_every_section(tmp_path: Path) -> None:
    problem = _missing()
    if problem:
        pytest.skip(problem)
    result = run_bench_script("suite", ["--quick", "--db", "sqlite"], tmp_path, timeout=120)

    assert result["machine"]["cores"] >= 1 and result["machine"]["mem_total_gib"] > 0
    [run] = result["runs"]
    assert run["db"] == "sqlite" and run["items"] == 2000 and run["errors"] == []
    assert run["events"] > 2000

    feed = run["feed"]
    for key in ("query_layer", "feed_json_inprocess", "feed_json_server", "naive_pandas"):
        _numbers(feed[key], "median_ms", "p95_ms", "n")
    paging = run["paging"]
    for key in ("page1", "deep_keyset", "deep_offset"):
        _numbers(paging[key], "median_ms", "p95_ms")
    _numbers(paging, "keyset_over_page1", "offset_over_keyset")
    assert paging["offset_same_rows_as_keyset"] is True
    assert set(run["filtered"]) == {"actor", "model=item", "action=deleted", "1-day window"}
    for f in run["filtered"].values():
        _numbers(f["query_layer"], "median_ms")
        _numbers(f["feed_json_inprocess"], "median_ms")
    assert set(run["pages"]) >= {"dashboard", "users list", "bucketlists list", "items list"}
    for p in run["pages"].values():
        _numbers(p, "median_ms", "p95_ms")

    csv = run["csv"]
    for key in ("export_endpoint", "report_run", "sqlite3_csv", "pandas_oneshot", "flask_admin_stock"):
        _numbers(csv[key], "rows", "rows_per_s", "peak_rss_mb")
    assert csv["export_endpoint"]["rows"] == csv["sqlite3_csv"]["rows"] == run["events"]

    load = run["load"]
    for phase in ("idle", "with_writer"):
        for name in ("dashboard", "feed.json"):
            _numbers(load[phase][name], "requests_per_s", "p50_ms", "p99_ms", "non_2xx", "socket_errors")
            assert load[phase][name]["requests"] > 0
    _numbers(load["writer"], "transactions", "locked")
    assert load["writer"]["transactions"] > 0

    assert all(t["status"] in ("met", "MISSED", "n/a") for t in run["targets"])
    assert len(run["targets"]) >= 20


def test_stack_quick_run_measures_the_app_against_the_bare_stack(tmp_path: Path) -> None:
    """`python -m bench.stack` at a tiny size: every figure of issue 18's comparison is there and error-free."""
    problem = _missing()
    if problem:
        pytest.skip(problem)
    result = run_bench_script("stack", ["--db", "sqlite", "--size", "2000", "--seconds", "1", "--cold", "1",
                                        "--connections", "2"], tmp_path, timeout=240)
    run = result["sqlite"]
    for key in ("bare", "app", "app_with_writer", "dashboard"):
        _numbers(run[key], "requests_per_s", "p99_ms")
        assert run[key]["errors"] == 0, (key, run[key])
    assert run["ratio_app_to_bare"] > 0
    _numbers(run["cpu"]["app"], "cpu_ms", "wall_ms")
    assert 0 < run["cpu"]["ratio_cpu"] < 5 and run["cpu"]["bare"]["cpu_ms"] > 0
    assert set(run["documented_server"]) >= {"1 worker"}
    for fig in run["documented_server"].values():
        assert fig["errors"] == 0 and fig["requests_per_s"] > 0
    for server in ("gunicorn", "manage.py run"):
        for key in ("first_dashboard_ms", "first_dashboard_own_count_ms", "first_feed_json_ms"):
            _numbers(run["cold"][server][key], "best", "worst")
    assert len(run["cold"]["refresh_ms"]) == 2 and all(ms >= 0 for ms in run["cold"]["refresh_ms"])
    assert run["refresh_ms"] >= 0  # the shared counts, refreshed before the warm dashboard
    assert run["writer"].get("locked", 0) == 0 and run["server_log"].get("database_is_locked", 0) == 0


def test_session_user_bench_compares_both_loads_on_both_databases(tmp_path: Path) -> None:
    """`python -m bench.session_user` at a tiny size: the ORM load and the Core row, each a positive CPU time."""
    from bench.datasets import pg_unreachable

    problem = pg_unreachable()
    if problem:
        pytest.skip(f"PostgreSQL: {problem}")
    result = run_bench_script("session_user", ["--size", "2000", "--calls", "20"], tmp_path, timeout=240)
    for kind in ("sqlite", "postgresql"):
        assert set(result[kind]) == {"ORM User", "SessionUser"} and min(result[kind].values()) > 0
