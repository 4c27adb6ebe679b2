"""Retention: old runs and their files go, files outside REPORTS_DIR and files a kept run uses stay."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from admin_app.extensions import db
from flask_activity.reporting.models import ReportRun
from flask_activity.types import utcnow


def test_report_prune_removes_old_runs_and_files_inside_reports_dir_only(app, runner, reports_dir, tmp_path):
    now = utcnow()
    outside = tmp_path / "outside"
    outside.mkdir()
    for folder in ("activity", "items"):
        (reports_dir / folder).mkdir(parents=True)
    (reports_dir / "linked").symlink_to(outside, target_is_directory=True)
    made: dict[str, int] = {}

    def add(key: str, report: str, age_days: float, path: str | None = None, status: str = "succeeded",
            scheduled: bool = False) -> None:
        start = now - timedelta(days=age_days)
        if path and not path.startswith("/") and not path.startswith(".."):
            target = reports_dir / path
            if not target.exists():
                target.write_text("csv")
        run = ReportRun(report=report, params={}, period_start=start - timedelta(days=1, seconds=len(made)),
                        period_end=start, scheduled_for=start if scheduled else None, status=status,
                        started_at=start, path=path)
        db.session.add(run)
        db.session.commit()
        made[key] = run.id

    for name in ("abs.csv", "dotdot.csv", "victim.csv"):
        (outside / name).write_text("not ours")
    add("old", "activity", 100, "activity/old.csv")  # activity keeps 90 days
    add("recent", "activity", 10, "activity/recent.csv")
    add("forty", "activity", 40, "activity/forty.csv")
    add("old-items", "items", 40, "items/old.csv")  # items keeps 30 days
    add("shared-old", "activity", 120, "activity/shared.csv")
    add("shared-new", "activity", 1, "activity/shared.csv")
    add("absolute", "activity", 100, str(outside / "abs.csv"))
    add("dotdot", "activity", 100, "../outside/dotdot.csv")
    add("link", "activity", 100, "linked/victim.csv")
    add("failed", "activity", 100, None, status="failed")
    add("running", "activity", 100, None, status="running")
    add("bookmark", "daily-activity", 400, None, scheduled=True)  # daily-activity keeps 365 days
    add("gone", "no-longer-defined", 1000, None)
    to_go = {"old", "old-items", "shared-old", "absolute", "dotdot", "link", "failed"}

    dry = runner.invoke(args=["report", "prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.strip().splitlines()[-1] == "would remove 7 runs and 2 files"
    assert "activity/old.csv: would delete" in dry.output
    assert db.session.scalar(select(func.count()).select_from(ReportRun)) == len(made)
    assert (reports_dir / "activity" / "old.csv").exists()

    result = runner.invoke(args=["report", "prune"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "removed 7 runs and 2 files"
    db.session.remove()
    left = set(db.session.scalars(select(ReportRun.id)))
    assert left == {made[k] for k in made.keys() - to_go}
    assert not (reports_dir / "activity" / "old.csv").exists() and not (reports_dir / "items" / "old.csv").exists()
    for kept in ("activity/recent.csv", "activity/forty.csv", "activity/shared.csv"):
        assert (reports_dir / kept).exists(), kept
    assert sorted(p.read_text() for p in outside.iterdir()) == ["not ours"] * 3
    assert f"{outside / 'abs.csv'}: kept: outside REPORTS_DIR" in result.output
    assert "linked/victim.csv: kept: outside REPORTS_DIR" in result.output
    assert "activity/shared.csv: kept: a newer run uses it" in result.output
    assert runner.invoke(args=["report", "prune"]).output.strip() == "removed 0 runs and 0 files"
