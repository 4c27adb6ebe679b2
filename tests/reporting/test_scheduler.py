"""The report scheduler: due periods (DST included), claiming each period once, catch-up, failures, serve."""
from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from admin_app.extensions import db
from flask_activity.reporting import runner as report_runner
from flask_activity.reporting.definition import ReportDefinition
from flask_activity.reporting.models import ReportRun
from flask_activity.reporting.scheduler import Due, claim, due_periods, next_fire_time, previous_fire_time, serve, tick
from flask_activity.types import UTC

REPO_ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
HOUR = timedelta(hours=1)
T0 = datetime(2026, 5, 10, 6, 0, tzinfo=UTC)  # on the hour


def fake(name: str = "fake", schedule: str | None = "0 * * * *", tz: str = "UTC", rows=None,
         retention_days: int = 30) -> ReportDefinition:
    """A tiny report: two rows naming its window, unless ``rows`` says otherwise."""
    return ReportDefinition(
        name=name, title=name.title(), description="a test report", columns=("n", "since"),
        rows=rows or (lambda ctx: [(1, ctx.since.isoformat()), (2, ctx.until.isoformat())]),
        schedule=schedule, timezone=tz, retention_days=retention_days)


def runs(name: str) -> list[ReportRun]:
    """The report's runs as committed, oldest period first."""
    db.session.remove()
    return list(db.session.scalars(select(ReportRun).where(ReportRun.report == name)
                                   .order_by(ReportRun.period_start, ReportRun.id)))


def seed_claimed(defn: ReportDefinition, end: datetime) -> ReportRun:
    """A scheduled run that already covered the period ending at ``end`` (the scheduler's bookmark)."""
    run = ReportRun(report=defn.name, params={}, period_start=end - HOUR, period_end=end, scheduled_for=end,
                    status="succeeded", rows=0, started_at=end, finished_at=end)
    db.session.add(run)
    db.session.commit()
    return run


def assert_contiguous(periods: list) -> None:
    for before, after in itertools.pairwise(periods):
        assert after.start == before.end, (before, after)
        assert before.start < before.end


def assert_one_error_line(result, *mentions: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for word in mentions:
        assert word in lines[0], lines[0]


# --- due periods: pure, no database ------------------------------------------------------------


def test_first_scheduled_start_owes_only_the_latest_period_not_history():
    daily = fake(schedule="15 0 * * *")
    now = datetime(2026, 5, 10, 9, 0, tzinfo=UTC)
    fire = datetime(2026, 5, 10, 0, 15, tzinfo=UTC)
    assert due_periods(daily, None, now) == [Due(fire, fire - timedelta(days=1), fire)]


def test_period_runs_from_the_previous_fire_time_to_the_fire_time():
    daily = fake(schedule="15 0 * * *")
    last = datetime(2026, 5, 9, 0, 15, tzinfo=UTC)
    fire = datetime(2026, 5, 10, 0, 15, tzinfo=UTC)
    assert due_periods(daily, last, fire - timedelta(seconds=1)) == []
    assert due_periods(daily, last, fire) == [Due(fire, last, fire)]
    assert due_periods(daily, last, fire + timedelta(hours=23)) == [Due(fire, last, fire)]  # late: still owed


def test_after_downtime_every_fire_time_since_the_last_claim_is_owed_back_to_back():
    daily = fake(schedule="15 0 * * *")
    last = datetime(2026, 5, 1, 0, 15, tzinfo=UTC)
    due = due_periods(daily, last, datetime(2026, 5, 10, 9, 0, tzinfo=UTC))
    assert [d.fire.day for d in due] == list(range(2, 11))
    assert due[0].start == last
    assert_contiguous(due)


def test_next_and_previous_fire_times_are_strictly_after_and_before():
    daily = fake(schedule="15 0 * * *")
    fire = datetime(2026, 5, 10, 0, 15, tzinfo=UTC)
    assert next_fire_time(daily, fire) == fire + timedelta(days=1)
    assert previous_fire_time(daily, fire) == fire - timedelta(days=1)
    assert next_fire_time(fake(schedule=None), fire) is None


@pytest.mark.parametrize("day", ["2026-03-29", "2026-10-25", "2026-06-15"], ids=["spring-forward", "fall-back",
                                                                                   "ordinary"])
def test_daily_paris_schedule_runs_once_each_day_across_dst(day):
    """02:30 does not exist on 29 March and happens twice on 25 October: one run each day all the same."""
    daily = fake(schedule="30 2 * * *", tz="Europe/Paris")
    middle = datetime.fromisoformat(day).replace(tzinfo=PARIS)
    last = previous_fire_time(daily, middle - timedelta(days=3))
    due = due_periods(daily, last, middle + timedelta(days=3, hours=12))
    local_days = [d.fire.astimezone(PARIS).date() for d in due]
    first = (middle - timedelta(days=3)).date()
    assert local_days == [first + timedelta(days=i) for i in range(7)]  # one per day: no skip, no double
    assert due[0].start == last
    assert_contiguous(due)
    on_day = next(d.fire.astimezone(PARIS) for d in due if d.fire.astimezone(PARIS).date() == middle.date())
    expected = {"2026-03-29": "03:30+0200", "2026-10-25": "02:30+0200", "2026-06-15": "02:30+0200"}[day]
    assert on_day.strftime("%H:%M%z") == expected


@pytest.mark.parametrize("day, hours", [("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-15", 24)],
                         ids=["spring-forward", "fall-back", "ordinary"])
def test_hourly_paris_schedule_covers_every_real_hour_once_across_dst(day, hours):
    hourly = fake(schedule="0 * * * *", tz="Europe/Paris")
    midnight = datetime.fromisoformat(day).replace(tzinfo=PARIS).astimezone(UTC)
    next_midnight = (datetime.fromisoformat(day) + timedelta(days=1)).replace(tzinfo=PARIS).astimezone(UTC)
    due = due_periods(hourly, midnight, next_midnight)
    assert len(due) == hours
    assert all(d.end - d.start == HOUR for d in due)
    assert due[0].start == midnight and due[-1].end == next_midnight
    assert_contiguous(due)


# --- claiming and running: both databases ------------------------------------------------------


def test_tick_twice_with_the_same_now_claims_nothing_the_second_time(app, reports_dir):
    defn = fake()
    now = T0 + timedelta(minutes=5)
    first = tick([defn], now)
    assert [(r.period_start, r.period_end) for r in first.claimed] == [(T0 - HOUR, T0)]
    assert [r.status for r in first.ran] == ["succeeded"]
    second = tick([defn], now)
    assert second.claimed == [] and second.ran == []
    assert len(runs("fake")) == 1
    assert len(list((reports_dir / "fake").glob("*.csv"))) == 1


def test_second_claim_of_the_same_period_fails_cleanly(app, reports_dir):
    defn = fake()
    period = Due(T0, T0 - HOUR, T0)
    assert claim(defn, period) is not None
    assert claim(defn, period) is None
    assert claim(defn, period, missed="a missed mark for a period someone has") is None
    # the session is usable afterwards, and only the claim key is unique: the next period and a manual run go in
    assert claim(defn, Due(T0 + HOUR, T0, T0 + HOUR)) is not None
    manual = report_runner.run_report(defn, T0 - HOUR, T0)
    assert manual.status == "succeeded" and manual.scheduled_for is None
    assert [(r.period_start, r.scheduled_for is not None) for r in runs("fake")] == [
        (T0 - HOUR, True), (T0 - HOUR, False), (T0, True)]


def test_catch_up_run_runs_every_missed_period(app, reports_dir):
    defn = fake()
    seed_claimed(defn, T0)
    result = tick([defn], T0 + timedelta(hours=5, minutes=30), catch_up="run")
    assert len(result.due) == len(result.ran) == 5
    scheduled = runs("fake")[1:]
    assert [r.status for r in scheduled] == ["succeeded"] * 5
    assert [r.period_end for r in scheduled] == [T0 + HOUR * i for i in range(1, 6)]
    assert_contiguous([Due(r.scheduled_for, r.period_start, r.period_end) for r in runs("fake")])
    assert len(list((reports_dir / "fake").glob("*.csv"))) == 5


def test_catch_up_mark_records_missed_periods_with_a_reason_and_runs_the_latest(app, reports_dir):
    app.config["REPORT_CATCH_UP"] = "mark"
    defn = fake()
    seed_claimed(defn, T0)
    result = tick([defn], T0 + timedelta(hours=5, minutes=30))
    scheduled = runs("fake")[1:]
    assert len(scheduled) == len(result.due) == 5  # every period has a row: nothing skipped silently
    assert [r.status for r in scheduled] == ["missed"] * 4 + ["succeeded"]
    assert all("REPORT_CATCH_UP=mark" in r.error and "not run at" in r.error for r in scheduled[:4])
    assert len(result.missed) == 4 and len(result.ran) == 1
    assert len(list((reports_dir / "fake").glob("*.csv"))) == 1
    assert tick([defn], T0 + timedelta(hours=5, minutes=30)).claimed == []  # missed periods stay claimed


def test_stop_during_a_catch_up_claims_no_further_period_and_leaves_the_rest_due(app, reports_dir):
    defn = fake()
    seed_claimed(defn, T0)
    stop = threading.Event()
    now = T0 + timedelta(hours=5, minutes=30)
    first = tick([defn], now, on_run=lambda run: stop.set(), stop=stop)
    assert len(first.claimed) == 1
    rest = tick([defn], now)
    assert [r.period_start for r in rest.claimed] == [T0 + HOUR * i for i in range(1, 5)]


def test_failed_run_is_recorded_with_its_message_and_the_scheduler_goes_on(app, reports_dir):
    def explode(ctx):
        raise RuntimeError("disk on fire")

    boom, fine = fake("boom", rows=explode), fake("fine")
    seed_claimed(boom, T0 - 2 * HOUR)
    printed: list[str] = []
    result = tick([boom, fine], T0 + timedelta(minutes=1), on_run=lambda r: printed.append(r.report))
    assert [(r.status, r.error) for r in runs("boom")[1:]] == [("failed", "RuntimeError: disk on fire")] * 2
    assert [r.status for r in runs("fine")] == ["succeeded"]
    assert len(result.failed) == 2 and len(result.ran) == 1
    assert printed == ["boom", "boom", "fine"]
    assert not list(reports_dir.rglob("*.tmp"))


def test_first_start_does_not_backfill_even_when_the_schedule_is_old(app, reports_dir):
    result = tick([fake(schedule="*/10 * * * *")], T0 + timedelta(minutes=7))
    assert [(r.period_start, r.period_end) for r in result.claimed] == [(T0 - timedelta(minutes=10), T0)]


# --- two real scheduler processes --------------------------------------------------------------

RACER = textwrap.dedent("""
    import json, os, sys, time
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    from admin_app import create_app
    from flask_activity.reporting.definition import ReportDefinition
    from flask_activity.reporting.scheduler import tick

    url, reports, barrier, ticks = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    base = datetime(2026, 5, 10, 6, 0, tzinfo=timezone.utc)

    def rows(ctx):
        time.sleep(0.05)  # long enough for the other process to reach the same period
        return [(1, ctx.since.isoformat())]

    defn = ReportDefinition(name="race", title="Race", description="", columns=("n", "since"), rows=rows,
                            schedule="0 * * * *")
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "REPORTS_DIR": reports})
    (barrier / f"ready-{os.getpid()}").touch()
    while not (barrier / "go").exists():
        time.sleep(0.005)
    claimed = due = 0
    with app.app_context():
        for k in range(ticks):  # two hourly periods fall due at each tick after the first
            result = tick([defn], base + timedelta(hours=2 * k, minutes=1))
            claimed, due = claimed + len(result.claimed), due + len(result.due)
    print(json.dumps({"claimed": claimed, "due": due}))
""")


def test_two_scheduler_processes_produce_each_period_exactly_once(app, database_url, reports_dir, tmp_path):
    ticks = 5
    periods = 2 * ticks - 1
    script, barrier = tmp_path / "racer.py", tmp_path / "barrier"
    script.write_text(RACER)
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("DATABASE_URL", None)
    procs = [subprocess.Popen([sys.executable, str(script), database_url, str(reports_dir), str(barrier), str(ticks)],
                              cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    deadline = time.monotonic() + 30
    while (len(list(barrier.glob("ready-*"))) < 2 and time.monotonic() < deadline
           and all(p.poll() is None for p in procs)):
        time.sleep(0.01)
    (barrier / "go").touch()  # both processes are loaded: they start ticking together
    outs = [p.communicate(timeout=60) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sum(r["claimed"] for r in reports) == periods
    assert sum(r["due"] for r in reports) > periods, f"the processes never competed for a period: {reports}"
    done = runs("race")
    assert [r.status for r in done] == ["succeeded"] * periods
    assert [r.period_end for r in done] == [datetime(2026, 5, 10, 6 + k, 0, tzinfo=UTC) for k in range(periods)]
    assert_contiguous([Due(r.scheduled_for, r.period_start, r.period_end) for r in done])
    files = sorted((reports_dir / "race").iterdir())
    assert len(files) == periods and all(f.suffix == ".csv" for f in files)
    assert sorted(str(f.relative_to(reports_dir)) for f in files) == sorted(r.path for r in done)


# --- serve: the loop, with an injected clock --------------------------------------------------


def test_serve_sleeps_until_the_next_fire_time_at_most_30_s_and_exits_on_stop(app, reports_dir):
    clock = [T0 - timedelta(seconds=10)]
    stop, waits = threading.Event(), []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += timedelta(seconds=seconds)
        if len(waits) == 2:
            stop.set()

    lines: list[str] = []
    serve({"fake": fake()}, stop, clock=lambda: clock[0], sleep=sleep, on_run=lambda r: lines.append(r.status))
    assert waits == [10.0, 30.0]
    assert [r.period_end for r in runs("fake")] == [T0 - HOUR, T0]
    assert lines == ["succeeded", "succeeded"]


def test_serve_wakes_from_its_wait_as_soon_as_stop_is_set(app, reports_dir):
    stop, errors = threading.Event(), []

    def loop() -> None:
        try:
            with app.app_context():
                serve([fake()], stop, clock=lambda: T0 + timedelta(minutes=1))  # waits 30 s on the event
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=loop)
    thread.start()
    deadline = time.monotonic() + 10
    while not runs("fake") and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive() and not errors
    assert time.monotonic() - started < 5
    assert [r.status for r in runs("fake")] == ["succeeded"]


def test_serve_starts_by_failing_runs_of_dead_processes_and_removing_temp_files(app, reports_dir):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = ReportRun(report="fake", params={}, period_start=T0 - HOUR, period_end=T0, status="running",
                       host=socket.gethostname(), pid=int(dead.stdout))
    db.session.add(orphan)
    db.session.commit()
    leftover = reports_dir / "fake" / ".fake_x.csv.9.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("half")
    stop = threading.Event()
    stop.set()
    serve([fake()], stop)
    assert not leftover.exists()
    assert runs("fake")[0].status == "failed"


# --- the command line --------------------------------------------------------------------------


def test_report_schedule_help_runs_in_a_real_process():
    proc = subprocess.run([sys.executable, "manage.py", "report", "schedule", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "SIGTERM" in proc.stdout and "--once" in proc.stdout


def test_report_schedule_stops_cleanly_on_sigterm(app, database_url, reports_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "APP_ENV")}
    env.update(DATABASE_URL=database_url, REPORTS_DIR=str(reports_dir), INSTANCE_DIR=str(tmp_path / "instance"),
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "manage.py", "report", "schedule", "--report", "activity"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(30, proc.kill)  # a hung scheduler fails the test instead of hanging the run
    watchdog.start()
    try:
        first = proc.stdout.readline()
        assert first.startswith("scheduler started"), (first, proc.stderr.read() if proc.poll() else "")
        ran = proc.stdout.readline()  # the first start runs the latest period of the daily schedule
        assert ran.startswith("activity ") and " succeeded: 0 rows -> activity/" in ran, ran
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.strip().splitlines()[-1] == "scheduler stopped"
    assert "SIGTERM: stopping" in err
    assert [r.status for r in runs("activity")] == ["succeeded"]


def test_report_schedule_once_prints_one_line_per_run(app, runner, reports_dir):
    result = runner.invoke(args=["report", "schedule", "--once"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["activity", "daily-activity"]
    assert all(" (UTC) succeeded: " in line and " rows -> " in line for line in lines), lines
    assert runner.invoke(args=["report", "schedule", "--once"]).output == ""  # nothing due twice


@pytest.mark.parametrize("args, config, mention", [
    (["schedule", "--report", "nope"], {}, "unknown report 'nope'"),
    (["schedule", "--report", "user-activity"], {}, "has no schedule"),
    (["schedule", "--once"], {"REPORT_CATCH_UP": "later"}, "REPORT_CATCH_UP"),
    (["prune", "nope"], {}, "unknown report 'nope'"),
], ids=["unknown-report", "unscheduled-report", "bad-catch-up", "prune-unknown-report"])
def test_report_schedule_and_prune_refuse_bad_input_with_one_line(app, runner, reports_dir, args, config, mention):
    app.config.update(config)
    assert_one_error_line(runner.invoke(args=["report", *args]), mention)
    assert runs("activity") == []
