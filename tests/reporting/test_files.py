"""Report files: one check that a recorded path lies inside REPORTS_DIR, asked by downloads and by prune alike."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from admin_app.extensions import db
from flask_activity.reporting import files
from flask_activity.reporting.models import ReportRun
from flask_activity.reporting.registry import load_reports
from flask_activity.reporting.retention import prune
from flask_activity.types import UTC, utcnow

DAY = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """REPORTS_DIR with a file, a folder linked outside, a file linked outside and one linked inside."""
    root, outside = tmp_path / "reports", tmp_path / "outside"
    (root / "items").mkdir(parents=True)
    outside.mkdir()
    (root / "items" / "ok.csv").write_text("id\r\n")
    (outside / "secret.csv").write_text("not ours")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "items" / "out.csv").symlink_to(outside / "secret.csv")
    (root / "items" / "alias.csv").symlink_to(root / "items" / "ok.csv")
    return root


@pytest.mark.parametrize("recorded", ["items/ok.csv", "items/alias.csv", "items/not-yet.csv"])
def test_paths_inside_reports_dir_are_given_unresolved(tree, recorded):
    assert files.inside(tree, recorded) == tree / recorded


@pytest.mark.parametrize("recorded", [
    "", ".", "items/..", "../outside/secret.csv", "items/../../outside/secret.csv", "/etc/passwd",
    "linked/secret.csv", "items/out.csv", "items/\x00.csv",
], ids=["empty", "root", "dotdot-to-root", "dotdot", "dotdot-deep", "absolute", "linked-folder", "linked-file", "nul"])
def test_paths_leaving_reports_dir_are_refused(tree, recorded):
    assert files.inside(tree, recorded) is None


def test_a_symlink_loop_is_refused(tree):
    (tree / "loop").symlink_to(tree / "loop")
    assert files.inside(tree, "loop/x.csv") is None


def store(path: str, started_at: datetime, status: str = "succeeded") -> ReportRun:
    run = ReportRun(report="items", params={}, period_start=DAY, period_end=DAY + timedelta(days=1), status=status,
                    started_at=started_at, path=path)
    db.session.add(run)
    db.session.commit()
    return run


def test_downloads_and_prune_ask_the_same_inside_check(app, viewer_client, tree, monkeypatch):
    """With the check refusing everything, nothing downloads and prune deletes no file: both ask files.inside."""
    app.config["REPORTS_DIR"] = str(tree)
    old = store("items/ok.csv", utcnow() - timedelta(days=400))
    old.sha256 = files.file_sha256(tree / "items" / "ok.csv")  # what the run recorded: downloads check it
    db.session.commit()
    assert viewer_client.get(f"/admin/reports/download/{old.id}").status_code == 200
    asked: list[str] = []

    def refuse(root: Path, recorded: str) -> None:
        asked.append(recorded)

    monkeypatch.setattr(files, "inside", refuse)
    assert viewer_client.get(f"/admin/reports/download/{old.id}").status_code == 404
    [pruned] = prune({"items": load_reports()["items"]}, utcnow())
    assert pruned.file_action == "kept: outside REPORTS_DIR"
    assert (tree / "items" / "ok.csv").is_file()
    assert asked == ["items/ok.csv", "items/ok.csv"]


def test_a_file_linked_outside_is_neither_downloaded_nor_deleted_by_prune(app, viewer_client, tree):
    app.config["REPORTS_DIR"] = str(tree)
    linked = store("items/out.csv", utcnow() - timedelta(days=400))
    assert viewer_client.get(f"/admin/reports/download/{linked.id}").status_code == 404
    [pruned] = prune({"items": load_reports()["items"]}, utcnow())
    assert pruned.file_action == "kept: outside REPORTS_DIR"
    assert (tree / "items" / "out.csv").is_symlink() and (tree.parent / "outside" / "secret.csv").is_file()


def test_report_file_is_only_for_succeeded_runs_with_a_file(app, tree):
    assert files.report_file(store("items/ok.csv", DAY), tree) == tree / "items" / "ok.csv"
    assert files.report_file(store("items/ok.csv", DAY, status="failed"), tree) is None
    assert files.report_file(store("items/not-yet.csv", DAY), tree) is None
    assert files.report_file(store("items", DAY), tree) is None  # a folder, not a file
