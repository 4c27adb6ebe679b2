"""The hooks: which signal fires when, with what, and that an observer can never break the work."""
from __future__ import annotations

import csv
import gc
import io
import logging
from datetime import UTC, datetime, timedelta

import pytest

from admin_app.extensions import db
from flask_activity import activity, signals
from flask_activity.admin.export import csv_response
from flask_activity.reporting import runner
from flask_activity.reporting.definition import ReportDefinition
from flask_activity.reporting.scheduler import tick
from flask_activity.testing import record_signals
from tests import factories

UTC = UTC
DAY = datetime(2026, 3, 2, tzinfo=UTC)


def fake_report(rows, name: str = "fake", schedule: str | None = None) -> ReportDefinition:
    return ReportDefinition(name=name, title="Fake", description="test", columns=("name", "value"),
                            rows=rows, schedule=schedule)


@pytest.fixture
def items(app, admin_user):
    bl = factories.bucketlist(admin_user, actor=admin_user)
    factories.bulk_items(bl, 7, datetime.now(UTC) - timedelta(hours=1), timedelta(minutes=1))
    return bl


def raising(sender, **kwargs):
    raise RuntimeError("a broken observer")


# --- the namespace ---------------------------------------------------------------------


def test_every_signal_is_hyphenated_documented_and_in_all():
    assert set(signals.ALL) == set(signals.namespace.values())
    assert len(signals.ALL) >= 8
    for signal in signals.ALL:
        assert signal.name == signal.name.lower() and "_" not in signal.name and "-" in signal.name
        assert "Sent" in signal.__doc__ and "Keyword arguments" in signal.__doc__, signal.name


def test_record_signals_refuses_an_unknown_name():
    with pytest.raises(KeyError, match="no signal 'model-saved'"), record_signals("model-saved"):
        pass


# --- activity-queried -----------------------------------------------------------------------


def test_fetch_page_fires_activity_queried_once_with_filters_rows_and_duration(app, items):
    flt = activity.ActivityFilter(models=("item",))
    with record_signals() as fired:
        page = activity.fetch_page(flt, limit=5)
    assert fired.names() == ["activity-queried"]
    one = fired.one("activity-queried")
    assert one.sender is app
    assert one.kwargs["kind"] == "page" and one.kwargs["filters"] == flt and one.kwargs["rows"] == len(page.events) == 5
    assert 0 < one.kwargs["duration"] < 60


def test_dashboard_fires_one_page_and_two_counts(admin_client, items):
    with record_signals("activity-queried") as fired:
        assert admin_client.get("/admin/").status_code == 200
    assert sorted(f.kwargs["kind"] for f in fired) == ["count", "count", "page"]


def test_stream_read_half_way_still_reports_the_rows_read(app, items):
    with record_signals("activity-queried") as fired:
        stream = activity.iter_events(activity.ActivityFilter(models=("item",)))
        next(stream), next(stream)
        assert fired == []  # not yet: the stream is still open
        stream.close()
    assert fired.one("activity-queried").kwargs["rows"] == 2


def test_actor_summary_fires_with_kind_summary(app, items):
    with record_signals("activity-queried") as fired:
        lines = activity.actor_summary(activity.ActivityFilter())
    kwargs = fired.one("activity-queried").kwargs
    assert kwargs["kind"] == "summary" and kwargs["rows"] == len(lines) > 0


# --- export-streamed ------------------------------------------------------------------------


def test_activity_export_fires_export_streamed_with_rows_and_bytes_sent(admin_client, items):
    with record_signals("export-streamed", "activity-queried") as fired:
        response = admin_client.get("/admin/activity/export.csv?model=item")
    body = response.get_data()
    data_rows = list(csv.reader(io.StringIO(body.decode())))[1:]
    export = fired.one("export-streamed").kwargs
    assert export["export"] == "activity" and export["complete"] is True
    assert export["rows"] == len(data_rows) == 7 and export["bytes"] == len(body)
    assert fired.one("activity-queried").kwargs["kind"] == "stream"
    assert fired.names() == ["activity-queried", "export-streamed"]  # the stream ends before the response


def test_model_list_export_fires_export_streamed_named_for_the_view(admin_client, items):
    with record_signals("export-streamed") as fired:
        response = admin_client.get("/admin/items/export/csv/")
    assert response.status_code == 200
    kwargs = fired.one("export-streamed").kwargs
    assert kwargs["export"] == "items" and kwargs["rows"] == 7 and kwargs["bytes"] == len(response.get_data())


def test_abandoned_export_reports_complete_false(app):
    chunks = ([(i, f"row {i}") for i in range(start, start + 10)] for start in range(0, 100, 10))
    with record_signals("export-streamed") as fired, app.test_request_context("/admin/activity/export.csv"):
        response = csv_response("x.csv", ("n", "text"), chunks, export="activity")
        chunks = iter(response.response)
        first = next(chunks)
        assert fired == []
        response.close()  # the client went away after one chunk; the server closes the response
    kwargs = fired.one("export-streamed").kwargs
    assert kwargs["complete"] is False and kwargs["bytes"] == len(first.encode()) and kwargs["rows"] == 10


# --- reports and the scheduler ---------------------------------------------------------------


def test_report_run_fires_started_then_finished_once_with_the_row_count(app, reports_dir):
    defn = fake_report(lambda ctx: [("a", 1), ("b", 2), ("c", 3)])
    with record_signals() as fired:
        run = runner.run_report(defn, DAY, DAY + timedelta(days=1))
    assert fired.names() == ["report-started", "report-finished"]
    assert fired.one("report-started").kwargs == {"run": run, "report": "fake"}
    done = fired.one("report-finished").kwargs
    assert done["run"] is run and done["rows"] == 3 == run.rows and done["bytes"] == run.bytes > 0
    assert done["duration"] >= 0


def test_failing_report_fires_started_then_failed_with_the_error(app, reports_dir):
    def rows(ctx):
        yield ("a", 1)
        raise RuntimeError("source went away")

    with record_signals() as fired, pytest.raises(runner.ReportFailed):
        runner.run_report(fake_report(rows), DAY, DAY + timedelta(days=1))
    assert fired.names() == ["report-started", "report-failed"]
    failed = fired.one("report-failed").kwargs
    assert failed["run"].status == "failed" and "source went away" in failed["error"] == failed["run"].error


def test_scheduler_tick_fires_with_what_was_due_and_what_was_claimed(app, reports_dir):
    defn = fake_report(lambda ctx: [("a", 1)], name="hourly", schedule="0 * * * *")
    now = DAY + timedelta(hours=5, minutes=1)
    with record_signals("scheduler-tick", "report-finished") as fired:
        result = tick([defn], now)
        tick([defn], now)  # nothing new is due
    first, second = fired.of("scheduler-tick")
    assert first.kwargs["now"] == now and [name for name, _ in first.kwargs["due"]] == ["hourly"]
    assert first.kwargs["claimed"] == result.claimed and len(result.ran) == 1
    assert second.kwargs["due"] == [] and second.kwargs["claimed"] == []
    assert fired.names() == ["report-finished", "scheduler-tick", "scheduler-tick"]


# --- login ----------------------------------------------------------------------------------


def test_login_success_and_failures_fire_with_email_address_and_reason(app, client, admin_user, make_user,
                                                                        signal_recorder):
    inactive = make_user("gone@example.com")
    inactive.active = False
    db.session.commit()
    client.login("nobody@example.com")
    client.login(admin_user.email, "wrong password")
    client.login("gone@example.com")
    client.login(admin_user.email)
    fired = signal_recorder  # the fixture records every signal of the test
    assert fired.names() == ["login-failed"] * 3 + ["login-succeeded"]
    failed = fired.of("login-failed")
    assert [f.kwargs["reason"] for f in failed] == ["unknown-user", "wrong-password", "inactive"]
    assert failed[0].kwargs["email"] == "nobody@example.com" and failed[0].kwargs["remote_addr"] == "127.0.0.1"
    assert fired.one("login-succeeded").kwargs["user"].id == admin_user.id


# --- observers cannot break the work --------------------------------------------------------


def test_a_raising_receiver_is_logged_and_the_feed_export_and_report_still_work(
        app, admin_client, items, reports_dir, caplog):
    caplog.set_level(logging.ERROR, logger="flask_activity.signals")
    for signal in signals.ALL:
        signal.connect(raising, weak=False)
    try:
        with record_signals() as fired:
            assert admin_client.get("/admin/activity/feed.json").status_code == 200
            csv_body = admin_client.get("/admin/activity/export.csv").get_data(as_text=True)
            run = runner.run_report(fake_report(lambda ctx: [("a", 1)]), DAY, DAY + timedelta(days=1))
    finally:
        for signal in signals.ALL:
            signal.disconnect(raising)
    assert len(csv_body.splitlines()) == 1 + fired.one("export-streamed").kwargs["rows"] > 7
    assert run.status == "succeeded" and (reports_dir / run.path).is_file()
    # the recorder, connected after the broken receiver, still saw everything
    assert {"activity-queried", "export-streamed", "report-started", "report-finished"} <= set(fired.names())
    assert "a broken observer" in caplog.text and "ignored" in caplog.text


def test_with_no_receiver_no_payload_is_built_and_send_is_never_called(app, admin_client, items, reports_dir,
                                                                      monkeypatch):
    gc.collect()  # apps of earlier tests (with metrics) may hold receivers until collected
    assert not any(s.receivers for s in signals.ALL)

    def must_not_run(*args, **kwargs):
        raise AssertionError("signals.send called with nobody listening")

    monkeypatch.setattr(signals, "send", must_not_run)
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.get("/admin/activity/export.csv").status_code == 200
    runner.run_report(fake_report(lambda ctx: [("a", 1)]), DAY, DAY + timedelta(days=1))
    tick([fake_report(lambda ctx: [], name="hourly", schedule="0 * * * *")], DAY)



def test_export_closed_before_its_first_chunk_is_still_reported(app):
    chunks = iter([[(1, "a")]])
    with record_signals("export-streamed") as fired, app.test_request_context("/admin/activity/export.csv"):
        response = csv_response("x.csv", ("n", "text"), chunks, export="activity")
        response.close()
    kwargs = fired.one("export-streamed").kwargs
    assert kwargs["complete"] is False and kwargs["rows"] == 0 and kwargs["bytes"] == 0
