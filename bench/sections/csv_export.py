"""Section 5 of the suite: the whole history as CSV, by the app and by its peers, each in its own child process."""
from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench import PY, children, datasets
from bench.measure import child_json, count_csv_rows, run_measured
from bench.peers import union_sql


def _figure(rows: int, work_s: float, r: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"rows": rows, "seconds": round(work_s, 3), "wall_s": r["wall_s"],
            "rows_per_s": round(rows / work_s) if work_s > 0 else None, "peak_rss_mb": r["peak_rss_mb"], **extra}


def csv_section(ds: datasets.Dataset, data_dir: Path, events: int, params: dict[str, Any],
                args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Rows/s and peak RSS of export.csv, `manage.py report run`, the database's own CSV writer (the floor),
    one-shot pandas and Flask-Admin's stock export."""
    env = datasets.app_env(ds.url, data_dir)
    res: dict[str, Any] = {}

    # what a Python process with the app imported and created holds before any export: context for peak RSS
    r = run_measured(children.command("baseline", ds.url, str(data_dir)), env)
    res["app_baseline_rss_mb"] = r["peak_rss_mb"]

    # the app: export endpoint
    out = work / "export.csv"
    r = run_measured(children.command("export-endpoint", ds.url, str(data_dir), str(out)), env)
    c = child_json(r)
    if c["status"] != 200:
        raise RuntimeError(f"export.csv: HTTP {c['status']}")
    res["export_endpoint"] = _figure(count_csv_rows(out), c["work_s"], r)
    out.unlink()

    # the app: activity report for the whole history
    first = datetime.fromisoformat(params["first_event"]).date() - timedelta(days=1)
    until = datetime.now(UTC).date() + timedelta(days=2)
    out = work / "report.csv"
    r = run_measured([PY, "manage.py", "report", "run", "activity", "--since", first.isoformat(),
                      "--until", until.isoformat(), "--out", str(out)], env)
    if r["returncode"] != 0:
        raise RuntimeError(f"report run failed: {r['stderr'][-800:]}")
    m = re.search(r"(\d+) rows, (\d+) bytes, ([\d.]+) s", r["stdout"])
    rows = count_csv_rows(out)
    res["report_run"] = _figure(rows, float(m.group(3)) if m else r["wall_s"], r,
                                rows_reported=int(m.group(1)) if m else None)
    out.unlink()

    # the floor: the database's own CSV writer on the same query
    out = work / "floor.csv"
    if ds.db == "sqlite":
        path = ds.url.removeprefix("sqlite:///")
        r = run_measured(["sqlite3", "-csv", "-header", path, union_sql()], stdout_path=out)
        name = "sqlite3_csv"
    else:
        u = make_url(ds.url)
        r = run_measured(["psql", "-X", "-q", "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U",
                          u.username or "postgres", "-d", u.database or "",
                          "-c", f"COPY ({union_sql()}) TO STDOUT WITH (FORMAT csv, HEADER)"], stdout_path=out)
        name = "psql_copy"
    if r["returncode"] != 0:
        raise RuntimeError(f"{name} failed: {r['stderr'][-800:]}")
    res[name] = _figure(count_csv_rows(out), r["wall_s"], r)
    res["floor"] = name
    out.unlink()

    # one-shot pandas and Flask-Admin's stock export: capped
    item_rows = ds.items
    for name, kind, n in (("pandas_oneshot", "pandas-oneshot", events),
                          ("flask_admin_stock", "stock-export", item_rows)):
        if n > args.max_peer_rows:
            res[name] = {"skipped": f"{n:,} rows > --max-peer-rows {args.max_peer_rows:,}"}
            continue
        out = work / f"{name}.csv"
        r = run_measured(children.command(kind, ds.url, str(data_dir), str(out)), env)
        c = child_json(r)
        if c.get("status", 200) != 200:
            raise RuntimeError(f"{name}: HTTP {c['status']}")
        res[name] = _figure(count_csv_rows(out), c["work_s"], r)
        out.unlink()

    floor = res[res["floor"]]["rows_per_s"]
    for key in ("export_endpoint", "report_run", "pandas_oneshot", "flask_admin_stock"):
        if "rows_per_s" in res.get(key, {}) and floor:
            res[key]["over_floor"] = round(res[key]["rows_per_s"] / floor, 3)
        if key != "flask_admin_stock" and "rows" in res.get(key, {}):  # the same events as the floor wrote?
            res[key]["rows_match_floor"] = res[key]["rows"] == res[res["floor"]]["rows"]
    return res
