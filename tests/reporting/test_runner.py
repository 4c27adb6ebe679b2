"""The report runner: content of the built-in reports, one snapshot, atomic files, run rows."""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from admin_app.accounts import create_user
from admin_app.extensions import db
from admin_app.models import Item
from flask_activity.audit import acting_as
from flask_activity.reporting import runner
from flask_activity.reporting.definition import ReportDefinition, ReportError
from flask_activity.reporting.models import ReportRun
from flask_activity.reporting.registry import load_reports
from flask_activity.types import utcnow
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
DAY = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(autouse=True)
def small_chunks(app) -> None:
    app.config["REPORT_CHUNK_SIZE"] = 3  # several chunks even for tiny data


@pytest.fixture
def known(app, admin_user, viewer_user):
    """Known history on 2026-03-02 (UTC): a list and 4 items; one updated by the viewer, one deleted."""
    admin_id, viewer_id = admin_user.id, viewer_user.id
    bl = factories.bucketlist(admin_user, "=Trips", actor=admin_user)
    bl.created_at = bl.updated_at = DAY + timedelta(hours=1)
    db.session.commit()
    rows = [dict(bucketlist_id=bl.id, title=t, done=False, created_at=DAY + timedelta(hours=h),
                 updated_at=DAY + timedelta(hours=h), created_by_id=admin_id, updated_by_id=admin_id)
            for t, h in (("a", 2), ("b", 3), ("c", 4), ("d", 5))]
    db.session.execute(insert(Item), rows)
    db.session.commit()
    items = {i.title: i for i in db.session.scalars(select(Item))}
    with acting_as(viewer_id):
        items["b"].updated_at = DAY + timedelta(hours=6)
        db.session.commit()
    with acting_as(admin_id):
        items["c"].deleted_at = items["c"].updated_at = DAY + timedelta(hours=7)
        db.session.commit()
    return dict(admin=admin_id, viewer=viewer_id, bl=bl.id, items={k: v.id for k, v in items.items()})


def read_csv(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    assert data.count(b"\r\n") == data.count(b"\n"), "RFC 4180 line ends"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def run(name: str, since=DAY, until=DAY + timedelta(days=1), **kw) -> ReportRun:
    return runner.run_report(load_reports()[name], since, until, **kw)


def test_activity_report_lists_every_event_in_the_window_newest_first(known, reports_dir):
    r = run("activity")
    rows = read_csv(reports_dir / r.path)
    got = [(x["model"], x["action"], x["label"], x["actor_email"]) for x in rows]
    assert got == [("item", "deleted", "c", "admin@example.com"), ("item", "updated", "b", "viewer@example.com"),
                   ("item", "created", "d", "admin@example.com"), ("item", "created", "c", "admin@example.com"),
                   ("item", "created", "b", "admin@example.com"), ("item", "created", "a", "admin@example.com"),
                   ("bucketlist", "created", "'=Trips", "admin@example.com")]
    assert rows[0]["at"] == "2026-03-02T07:00:00+00:00"
    assert (r.status, r.rows, r.path) == ("succeeded", 7, "activity/activity_2026-03-02_2026-03-03.csv")
    assert r.sha256 == hashlib.sha256((reports_dir / r.path).read_bytes()).hexdigest()
    assert r.bytes == (reports_dir / r.path).stat().st_size


def test_daily_activity_counts_per_day_in_the_reports_zone(known, reports_dir):
    r = run("daily-activity")
    rows = {(x["day"], x["model"], x["action"]): int(x["events"]) for x in read_csv(reports_dir / r.path)}
    assert rows[("2026-03-02", "item", "created")] == 4
    assert rows[("2026-03-02", "item", "updated")] == 1
    assert rows[("2026-03-02", "item", "deleted")] == 1
    assert rows[("2026-03-02", "bucketlist", "created")] == 1
    assert rows[("2026-03-02", "user", "created")] == 0
    assert {d for d, _, _ in rows} == {"2026-03-02"}


def test_user_activity_summarises_each_actor(known, reports_dir):
    r = run("user-activity")
    rows = {x["actor_email"]: x for x in read_csv(reports_dir / r.path)}
    assert set(rows) == {"admin@example.com", "viewer@example.com"}
    admin = rows["admin@example.com"]
    assert (admin["created"], admin["updated"], admin["deleted"], admin["total"]) == ("5", "0", "1", "6")
    assert admin["first_at"] == "2026-03-02T01:00:00+00:00" and admin["last_at"] == "2026-03-02T07:00:00+00:00"
    assert rows["viewer@example.com"]["updated"] == "1"


def test_items_report_is_a_snapshot_of_live_items(known, reports_dir):
    r = run("items", gzip=True)
    assert r.path.endswith(".csv.gz")
    rows = read_csv(reports_dir / r.path)
    assert [x["title"] for x in rows] == ["a", "b", "d"]
    assert rows[1]["updated_by"] == "viewer@example.com"


def test_rerunning_a_period_replaces_its_file_with_the_same_sha256(known, reports_dir):
    first, second = run("activity"), run("activity")
    assert first.path == second.path and first.sha256 == second.sha256
    assert len(list((reports_dir / "activity").iterdir())) == 1
    gz1, gz2 = run("activity", gzip=True), run("activity", gzip=True)
    assert gz1.sha256 == gz2.sha256  # gzip header carries no timestamp


def fake(rows, columns=("name", "value"), **kw) -> ReportDefinition:
    return ReportDefinition(name="fake", title="Fake", description="test", columns=columns, rows=rows, **kw)


def test_formula_prefixes_in_data_and_headers_are_neutralised(app, reports_dir):
    defn = fake(lambda ctx: [("=1+1", -2), ("@SUM(A1)", "-3.5"), ("+cmd", "\t=x")], columns=("=evil", "value"))
    r = runner.run_report(defn, DAY, DAY + timedelta(days=1))
    lines = list(csv.reader(io.StringIO((reports_dir / r.path).read_text())))
    assert lines == [["'=evil", "value"], ["'=1+1", "-2"], ["'@SUM(A1)", "-3.5"], ["'+cmd", "'\t=x"]]


def test_failing_report_leaves_no_file_and_a_failed_run(app, reports_dir):
    def rows(ctx):
        yield from [("a", 1)] * 7  # more than one chunk written before the failure
        raise RuntimeError("source went away")

    with pytest.raises(runner.ReportFailed, match="source went away"):
        runner.run_report(fake(rows), DAY, DAY + timedelta(days=1))
    assert not any(p.is_file() for p in reports_dir.rglob("*"))
    failed = db.session.scalars(select(ReportRun)).one()
    assert failed.status == "failed" and "source went away" in failed.error and failed.finished_at


def test_unwritable_folder_is_a_failed_run_with_a_clear_message(app, reports_dir):
    reports_dir.mkdir(parents=True)
    (reports_dir / "fake").write_text("a file where the folder should be")
    with pytest.raises(runner.ReportFailed, match="cannot write"):
        runner.run_report(fake(lambda ctx: [("a", 1)]), DAY, DAY + timedelta(days=1))
    assert db.session.scalars(select(ReportRun.status)).one() == "failed"


def test_unknown_parameter_is_refused_before_a_run_starts(app):
    with pytest.raises(ReportError, match="no parameter 'colour'"):
        load_reports()["activity"].parse_params({"colour": "red"})


def test_unknown_model_is_refused_naming_the_models_instead_of_an_empty_report(app, runner):
    with pytest.raises(ReportError, match=r"choose from '' \(all\), bucketlist, item, user, not 'invoice'"):
        load_reports()["activity"].parse_params({"model": "invoice"})
    assert load_reports()["activity"].parse_params({"model": "item"})["model"] == "item"
    result = runner.invoke(args=["report", "run", "activity", "--param", "model=invoice"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert db.session.scalars(select(ReportRun)).all() == []


def test_report_sees_one_snapshot_while_another_connection_commits(known, reports_dir, backend):
    def rows(ctx):
        count = select(func.count()).select_from(Item)
        before = ctx.session.scalar(count)
        with db.engine.connect() as other:  # a concurrent writer, committed mid-report
            other.execute(insert(Item), [dict(bucketlist_id=known["bl"], title="late", done=False,
                                              created_at=DAY, updated_at=DAY)])
            other.commit()
        after = ctx.session.scalar(count)
        yield ("before", before)
        yield ("after", after)

    r = runner.run_report(fake(rows), DAY, DAY + timedelta(days=1))
    got = {x["name"]: x["value"] for x in read_csv(reports_dir / r.path)}
    assert got["before"] == got["after"] == "4"
    assert db.session.scalar(select(func.count()).select_from(Item)) == 5  # the write did land


SLOW_RUN = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timedelta, timezone
    from admin_app import create_app
    from flask_activity.reporting import runner
    from flask_activity.reporting.definition import ReportDefinition

    def rows(ctx):
        for i in range(100000):
            yield ("row", i)
            if i % 50 == 0:
                time.sleep(0.01)

    app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "REPORTS_DIR": sys.argv[2], "SECRET_KEY": "x",
                      "APP_ENV": "testing", "REPORT_CHUNK_SIZE": 50})
    with app.app_context():
        day = datetime(2026, 3, 2, tzinfo=timezone.utc)
        defn = ReportDefinition(name="slow", title="Slow", description="", columns=("name", "value"), rows=rows)
        runner.run_report(defn, day, day + timedelta(days=1))
""")


def kill_mid_run(database_url: str, reports_dir: Path, after: float = 0.0) -> int:
    """Start SLOW_RUN in a real process, SIGKILL it ``after`` seconds into writing its file; returns its pid."""
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, database_url, str(reports_dir)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not list(reports_dir.rglob("*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(reports_dir.rglob("*.tmp")), "the run never started writing"
        time.sleep(after)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.pid


def test_kill_9_leaves_no_file_under_the_final_name_and_the_run_ends_failed(app, reports_dir, database_url):
    pid = kill_mid_run(database_url, reports_dir, after=0.3)
    final = reports_dir / "slow" / "slow_2026-03-02_2026-03-03.csv"
    assert not final.exists()
    db.session.expire_all()
    assert db.session.scalars(select(ReportRun.status)).one() == "running"  # as the dead process left it
    runner.recover()  # what the next start does
    assert not list(reports_dir.rglob("*.tmp")) and not final.exists()
    run_row = db.session.scalars(select(ReportRun)).one()
    assert run_row.status == "failed" and f"pid {pid}" in run_row.error


def test_a_web_process_recovers_at_its_first_request_a_run_its_killed_predecessor_left(app, reports_dir,
                                                                                       database_url):
    """The server killed during Run now: the next web process's first request marks the run failed and removes
    its temporary file (before, only the CLI and the scheduler did)."""
    pid = kill_mid_run(database_url, reports_dir)
    from admin_app import create_app

    restarted = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REPORTS_DIR": str(reports_dir),
                            "APP_ENV": "testing"})
    try:
        assert restarted.test_client().get("/login").status_code == 200  # any first request
        db.session.expire_all()
        run_row = db.session.scalars(select(ReportRun)).one()
        assert run_row.status == "failed" and "stopped before it finished" in run_row.error
        assert f"pid {pid}" in run_row.error
        assert not list(reports_dir.rglob("*.tmp"))
    finally:
        with restarted.app_context():
            db.engine.dispose()


def test_cli_run_prints_a_one_line_summary(known, runner_cli, reports_dir):
    result = runner_cli.invoke(args=["report", "run", "activity", "--since", "2026-03-02", "--until", "2026-03-03"])
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("activity: 7 rows,") and "activity_2026-03-02_2026-03-03.csv" in line


def test_a_run_to_stdout_records_no_made_up_path_and_history_says_where_each_run_went(known, app, runner_cli,
                                                                                     reports_dir, viewer_client):
    streamed = runner_cli.invoke(args=["report", "run", "activity", "--since", "2026-03-02", "--until", "2026-03-03",
                                       "--out", "-"])
    assert streamed.exit_code == 0 and streamed.output.startswith("at,model,id,action")
    kept = runner_cli.invoke(args=["report", "run", "activity", "--since", "2026-03-02", "--until", "2026-03-04"])
    assert kept.exit_code == 0, kept.output
    in_progress = runner.start_run(load_reports()["activity"], DAY, DAY + timedelta(days=1), {})
    first, second = db.session.scalars(select(ReportRun).where(ReportRun.status == "succeeded")
                                       .order_by(ReportRun.id)).all()
    assert first.path is None and first.sha256 and first.rows == 7  # what happened: bytes sent, none kept
    assert not list(reports_dir.rglob("*.csv"))[1:]  # only the second run's file is on disk

    lines = {int(line.split()[0]): line for line in runner_cli.invoke(args=["report", "history"]).output.splitlines()}
    assert lines[first.id].endswith(f"7 rows, {first.bytes:,} bytes, sha256 {first.sha256}, "
                                    "written to standard output (no file kept)")
    assert lines[second.id].endswith(f"sha256 {second.sha256}, {second.path}")
    assert "running since" in lines[in_progress.id] and "None" not in lines[in_progress.id]
    page = viewer_client.get("/admin/reports/").get_data(as_text=True)
    assert "written to standard output (no file kept)" in page and "file no longer available" not in page


@pytest.mark.parametrize("args, message", [
    (["report", "run", "nope"], "unknown report"),
    (["report", "run", "activity", "--since", "2026-03-02"], "both --since and --until"),
    (["report", "run", "activity", "--since", "yesterday", "--until", "2026-03-03"], "bad date"),
    (["report", "run", "activity", "--param", "colour=red"], "no parameter 'colour'"),
    (["report", "run", "activity", "--param", "action=exploded"], "choose from"),
])
def test_cli_bad_input_exits_2_with_one_line_and_starts_no_run(app, runner_cli, reports_dir, args, message):
    result = runner_cli.invoke(args=args)
    assert result.exit_code == 2
    assert message in result.output and result.output.strip().count("\n") == 0
    assert db.session.scalar(select(func.count()).select_from(ReportRun)) == 0


def test_cli_unwritable_output_exits_2_and_records_a_failed_run(app, runner_cli, reports_dir, tmp_path):
    target = tmp_path / "no" / "such" / "dir"
    (tmp_path / "no").write_text("not a folder")
    result = runner_cli.invoke(args=["report", "run", "activity", "--period", "yesterday",
                                     "--out", str(target / "x.csv")])
    assert result.exit_code == 2 and "cannot write" in result.output
    assert db.session.scalars(select(ReportRun.status)).one() == "failed"


@pytest.fixture
def runner_cli(app):
    return app.test_cli_runner()


def test_recover_keeps_the_temporary_file_of_a_run_still_in_progress(app, reports_dir):
    defn = fake(lambda ctx: [("a", 1)])
    live = runner.start_run(defn, DAY, DAY + timedelta(days=1), {})  # this process: alive
    dead = runner.start_run(defn, DAY, DAY + timedelta(days=2), {})
    dead.pid = 2**22 + 12345  # no such process
    db.session.commit()
    folder = reports_dir / "fake"
    folder.mkdir(parents=True)
    live_tmp = folder / f".fake_x.csv.{live.id}.tmp"
    dead_tmp = folder / f".fake_y.csv.{dead.id}.tmp"
    live_tmp.write_text("partial"), dead_tmp.write_text("partial")
    runner.recover()
    assert live_tmp.exists() and not dead_tmp.exists()
    db.session.refresh(dead)
    assert dead.status == "failed"


def test_reports_read_from_reports_database_url_and_record_runs_in_the_main_one(app, reports_dir, tmp_path, backend):
    """REPORTS_DATABASE_URL (a read replica): the report's rows come from there, its run row stays here."""
    if backend != "sqlite":
        pytest.skip("a second SQLite file stands in for the replica; the PostgreSQL path is the same code")
    from admin_app import create_app
    from admin_app.cli.db import init_db
    from tests.conftest import _config

    replica_url = f"sqlite:///{tmp_path / 'replica.db'}"
    replica = create_app(_config(replica_url))
    with replica.app_context():
        init_db()
        user = create_user("only-on-replica@example.com", "correct-horse-battery", "viewer")
        assert user.id
        db.engine.dispose()
    reader = create_app({**_config(app.config["SQLALCHEMY_DATABASE_URI"]), "REPORTS_DATABASE_URL": replica_url,
                         "REPORTS_DIR": str(reports_dir)})
    with reader.app_context():
        r = runner.run_report(load_reports()["activity"], DAY - timedelta(days=3650), utcnow() + timedelta(days=1))
        lines = read_csv(reports_dir / r.path)
        assert [line["label"] for line in lines] == ["only-on-replica@example.com"]
        assert r.source_lag_ms is None  # not a PostgreSQL standby
        db.session.remove()
        db.engines["reports"].dispose()
        db.engine.dispose()
    assert db.session.scalars(select(ReportRun.status)).all() == ["succeeded"]


def test_report_statement_timeout_fails_the_run_with_the_reason(app, reports_dir, backend):
    if backend != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    from sqlalchemy import text as sql

    app.config["REPORT_STATEMENT_TIMEOUT"] = 1
    slow = ReportDefinition(name="slow", title="Slow", description="test", columns=("x",),
                            query=lambda ctx: select(sql("1 FROM pg_sleep(3)")))
    with pytest.raises(runner.ReportFailed, match="statement timeout"):
        runner.run_report(slow, DAY, DAY + timedelta(days=1))
    assert db.session.scalars(select(ReportRun.status)).all() == ["failed"]
