"""Run a bench/ script the way a user does (a subprocess on a throwaway data folder) and read the JSON it writes.

Shared by the smoke tests of the benchmark suite, the sqlmap scan and the load test.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_bench_script(script: str, args: list[str], tmp_path: Path, timeout: int) -> dict[str, Any]:
    """``python -m bench.<script> ARGS --json .. --data-dir ..`` must exit 0; returns the JSON it wrote.

    ``script`` names the module (``suite``; ``suite.py`` is read the same way).
    """
    out = tmp_path / "result.json"
    module = "bench." + script.removesuffix(".py")
    proc = subprocess.run([sys.executable, "-m", module, *args, "--json", str(out),
                           "--data-dir", str(tmp_path / "data")],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())
