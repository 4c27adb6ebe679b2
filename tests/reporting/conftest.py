"""Fixtures for the reporting tests."""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask


@pytest.fixture
def reports_dir(app: Flask, tmp_path: Path) -> Path:
    """REPORTS_DIR in this test's temporary folder (not created: the first run makes it)."""
    path = tmp_path / "reports"
    app.config["REPORTS_DIR"] = str(path)
    return path
