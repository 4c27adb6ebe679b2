"""The benchmarks: the suite (``python -m bench.suite``) and the single-question scripts beside it.

Every script runs as a module from the project root (``python -m bench.<name>``); child processes do the same.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project root: child processes and servers run from here
PY = sys.executable
