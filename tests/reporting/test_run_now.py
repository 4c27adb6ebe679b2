"""Run now in the background: the request answers while the report runs, the history shows it queued or running,
a second Run now of the same period is refused, and the worker pool is bounded."""
from __future__ import annotations

import html
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from admin_app.extensions import db
from flask_activity.reporting import runs
from flask_activity.reporting.definition import ReportDefinition
from flask_activity.reporting.models import ReportRun

PAGE = "/admin/reports/"
GATE = threading.Event()


def held_rows(ctx: Any) -> Iterator[tuple[int]]:
    """Rows that wait for the test to open the gate: a report that takes as long as the test says."""
    assert GATE.wait(30), "the test never opened the gate"
    yield (1,)


SLOW = ReportDefinition(name="slow", title="Slow", description="waits for the test", columns=("n",),
                        rows=held_rows)


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"REPORT_RUN_NOW_WAIT": 0, "REPORT_RUN_NOW_QUEUE": 2}


@pytest.fixture
def slow_report(app: Flask, reports_dir: Any) -> Iterator[ReportDefinition]:
    GATE.clear()
    app.extensions["flask_activity"].registered_reports.append(SLOW)
    try:
        yield SLOW
    finally:
        GATE.set()  # never leave a worker waiting, nor one writing while the tables are emptied
        deadline = time.monotonic() + 20
        while _unfinished() and time.monotonic() < deadline:
            time.sleep(0.05)
        app.extensions["flask_activity"].registered_reports.remove(SLOW)


def _unfinished() -> list[int]:
    db.session.rollback()
    return list(db.session.scalars(select(ReportRun.id).where(ReportRun.status.in_(runs.UNFINISHED))))


def status_of(run_id: int) -> str:
    db.session.rollback()  # see what the worker committed
    return db.session.get(ReportRun, run_id).status


def wait_for(run_id: int, status: str) -> None:
    deadline = time.monotonic() + 20
    while status_of(run_id) != status:
        assert time.monotonic() < deadline, f"run {run_id} is {status_of(run_id)}, not {status}"
        time.sleep(0.05)


def only_run() -> ReportRun:
    db.session.rollback()
    return db.session.scalars(select(ReportRun)).one()


def test_run_now_answers_at_once_and_the_history_shows_the_run_until_it_finishes(admin_client, slow_report):
    started = time.monotonic()
    response = admin_client.post_form(PAGE + "run", {"report": "slow", "period": "today"})
    assert response.status_code == 302 and time.monotonic() - started < 10
    run = only_run()
    assert run.status in ("queued", "running")
    page = html.unescape(admin_client.get(PAGE).get_data(as_text=True))
    assert f"Slow (today), run {run.id} is " in page and "updates when it finishes" in page
    assert re.search(f'data-run="{run.id}" data-status="(queued|running)"', page)
    wait_for(run.id, "running")
    assert f'data-run="{run.id}" data-status="running"' in admin_client.get(PAGE).get_data(as_text=True)

    GATE.set()
    wait_for(run.id, "succeeded")
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert f'data-run="{run.id}" data-status="succeeded"' in page
    assert f'href="/admin/reports/download/{run.id}"' in page


def test_a_second_run_now_of_a_period_still_running_is_refused_with_a_message(admin_client, slow_report):
    admin_client.post_form(PAGE + "run", {"report": "slow", "period": "today"})
    first = only_run()
    response = admin_client.post_form(PAGE + "run", {"report": "slow", "period": "today"})
    assert response.status_code == 302
    page = html.unescape(admin_client.get(PAGE).get_data(as_text=True))
    assert re.search(f"Slow \\(today\\) is already (queued|running) as run {first.id}; wait for it to finish", page)
    assert only_run().id == first.id  # nothing queued twice
    GATE.set()
    wait_for(first.id, "succeeded")
    admin_client.post_form(PAGE + "run", {"report": "slow", "period": "today"})  # finished: may run again
    db.session.rollback()
    assert len(db.session.scalars(select(ReportRun)).all()) == 2


def test_past_the_queue_limit_run_now_is_refused_and_the_refusal_recorded(admin_client, slow_report):
    for period in ("today", "yesterday"):  # REPORT_RUN_NOW_QUEUE = 2: both slots taken
        assert admin_client.post_form(PAGE + "run", {"report": "slow", "period": period}).status_code == 302
    admin_client.post_form(PAGE + "run", {"report": "slow", "period": "last-7-days"})
    db.session.rollback()
    refused = db.session.scalars(select(ReportRun).where(ReportRun.status == "failed")).one()
    assert "not run: 2 runs are already queued or running in this server process" in refused.error
    page = html.unescape(admin_client.get(PAGE).get_data(as_text=True))
    assert "Slow (last-7-days) was not run: 2 runs are already queued" in page
    GATE.set()
    for run in db.session.scalars(select(ReportRun).where(ReportRun.status != "failed")):
        wait_for(run.id, "succeeded")


def test_a_run_left_queued_by_a_dead_server_is_failed_with_the_reason(app, reports_dir):
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    run = runs.queue("items", *_day(), {})
    run.pid = dead
    db.session.commit()
    assert [r.id for r in runs.fail_stale_runs()] == [run.id]
    assert status_of(run.id) == "failed"
    assert f"pid {dead} is gone" in db.session.get(ReportRun, run.id).error
    assert runs.begin_queued(run.id) is None  # a failed run is never started afterwards


def _day() -> tuple[Any, Any]:
    from datetime import UTC, datetime, timedelta
    day = datetime(2026, 3, 2, tzinfo=UTC)
    return day, day + timedelta(days=1)


def test_a_queued_run_whose_report_is_gone_is_failed_with_the_reason_not_left_running(app, reports_dir):
    """Its report removed from REPORT_MODULES between the click and the worker: the run ends 'failed', saying so,
    instead of staying 'running' and refusing that period until REPORT_RUN_TIMEOUT."""
    from concurrent.futures import wait

    from flask_activity.reporting import background

    run = runs.queue("ghost", *_day(), {})
    wait([background.run_queue().submit(run.id)], timeout=20)
    assert status_of(run.id) == "failed"
    assert "unknown report 'ghost'" in db.session.get(ReportRun, run.id).error
