"""Section 6 of the suite: wrk against the live server, idle and while a writer process updates items."""
from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import ROOT, children, datasets
from bench.measure import measure
from bench.server import USER_AGENT, BenchServer
from flask_activity.testing import LiveServer

WRK_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do total[k] = (total[k] or 0) + v end
  end
  io.write("STATUS")
  for k, v in pairs(total) do io.write(string.format(" %d=%d", k, v)) end
  io.write("\\n")
end
"""


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]


def run_wrk(server: LiveServer, path: str, seconds: int, work: Path, connections: int) -> dict[str, Any]:
    """``wrk --latency`` on ``path`` with the server's session cookie (if it has one): req/s, percentiles, statuses,
    errors."""
    script = work / "status.lua"
    script.write_text(WRK_LUA)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(script),
           "-H", f"Cookie: {getattr(server, 'cookie', '')}", "-H", f"User-Agent: {USER_AGENT}",
           f"http://127.0.0.1:{server.port}{path}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    out = proc.stdout
    res: dict[str, Any] = {"path": path, "seconds": seconds, "connections": connections}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["requests_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = round(_ms(m.group(1)), 3) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    statuses = {}
    m2 = re.search(r"^STATUS(.*)$", out, re.M)
    if m2:
        statuses = {int(k): int(v) for k, v in (p.split("=") for p in m2.group(1).split())}
    res["statuses"] = statuses
    res["non_2xx"] = sum(v for k, v in statuses.items() if not 200 <= k < 300) if statuses else (
        int(m.group(1)) if m else 0)
    res["errors"] = res["non_2xx"] + res["socket_errors"]
    if proc.returncode != 0 or res["requests_per_s"] is None:
        res["wrk_error"] = (proc.stderr or out)[-500:]
    return res


def load_section(ds: datasets.Dataset, data_dir: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """feed.json through the server, then wrk on the dashboard and feed.json, idle and with the writer."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    server = BenchServer(ds, data_dir, work)
    res: dict[str, Any] = {"server": server.kind, "wrk": f"1 thread, {args.connections} connections"}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)

        def feed_once() -> None:
            status, _, _ = server.request("GET", "/admin/activity/feed.json", conn=conn)
            if status != 200:
                raise RuntimeError(f"feed.json through the server: HTTP {status}")

        res["feed_json_server"] = measure(feed_once, args.repeat, args.budget)
        conn.close()
        targets = {"dashboard": "/admin/", "feed.json": "/admin/activity/feed.json"}
        res["idle"] = {name: run_wrk(server, path, args.load_seconds, work, args.connections)
                       for name, path in targets.items()}
        before = server.log_counts()
        duration = 2 * args.load_seconds + 3
        wproc = subprocess.Popen(children.command("writer", ds.url, str(data_dir), str(duration), str(ds.items)),
                                 env=datasets.app_env(ds.url, data_dir), cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # the writer's app is up and writing
        res["with_writer"] = {name: run_wrk(server, path, args.load_seconds, work, args.connections)
                              for name, path in targets.items()}
        wout, werr = wproc.communicate(timeout=duration + 60)
        try:
            res["writer"] = json.loads(wout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            res["writer"] = {"failed": werr[-800:]}
        after = server.log_counts()
        res["server_log"] = after
        res["server_log_during_writer"] = {k: after[k] - before[k] for k in after if k != "first_errors"}
        res["locked_errors"] = res["writer"].get("locked", 0) + res["server_log_during_writer"]["database_is_locked"]
    finally:
        server.stop()
    return res
