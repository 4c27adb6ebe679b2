"""/metrics: off by default, protected, fed only by the signals, readable by Prometheus' own parser."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from admin_app import create_app
from admin_app.config import ConfigError, TestConfig, from_environment
from flask_activity import signals
from flask_activity.reporting import runner
from flask_activity.reporting.definition import ReportDefinition
from flask_activity.reporting.scheduler import tick
from tests import factories

UTC = UTC
DAY = datetime(2026, 3, 2, tzinfo=UTC)
TOKEN = "scraper-token-0123456789abcdef"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_config():
    return {"METRICS_ENABLED": True, "METRICS_TOKEN": TOKEN}


def scrape(client, **headers) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser: (name, labels) -> value."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST  # the Prometheus text format
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def fake_report(rows, name: str = "fake", schedule: str | None = None) -> ReportDefinition:
    return ReportDefinition(name=name, title="Fake", description="test", columns=("name", "value"),
                            rows=rows, schedule=schedule)


# --- off by default --------------------------------------------------------------------------


def test_metrics_are_off_by_default_no_endpoint_and_no_receiver(database_url):
    from tests.conftest import _config

    gc.collect()  # apps of earlier tests hold their receivers until collected
    app = create_app(_config(database_url))
    assert app.config["METRICS_ENABLED"] is False
    assert "metrics" not in app.extensions and "metrics.metrics" not in app.view_functions
    assert all(not list(s.receivers_for(app)) for s in signals.ALL)
    with app.app_context():
        assert app.test_client().get("/metrics").status_code == 404


# --- protected -------------------------------------------------------------------------------


def test_anonymous_gets_401_with_a_bearer_challenge(client):
    response = client.get("/metrics")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"admin_" not in response.get_data()


def test_an_admin_session_behind_a_proxy_sending_basic_auth_still_gets_in(admin_client):
    response = admin_client.get("/metrics", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 200


def test_multiprocess_folder_only_in_config_refuses_to_start(database_url, tmp_path):
    from tests.conftest import _config

    with pytest.raises(ConfigError, match="must be in the environment"):
        create_app({**_config(database_url), "METRICS_ENABLED": True, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN, "Bearer \u00e9t\u00e9"])
def test_wrong_token_or_scheme_gets_401(client, header):
    response = client.get("/metrics", headers={"Authorization": header})
    assert response.status_code == 401 and b"admin_" not in response.get_data()


def test_viewer_gets_403(viewer_client):
    assert viewer_client.get("/metrics").status_code == 403


def test_admin_session_and_bearer_token_both_get_the_text_format(admin_client, client):
    assert ("admin_logins_total", frozenset()) in scrape(admin_client)
    assert ("admin_logins_total", frozenset()) in scrape(client, Authorization=f"Bearer {TOKEN}")


def test_no_token_configured_means_no_token_is_accepted(app, client):
    app.config["METRICS_TOKEN"] = None
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer None"}).status_code == 401


# --- fed by the signals ----------------------------------------------------------------------


def test_feed_export_and_logins_are_counted(app, client, admin_client, admin_user):
    bl = factories.bucketlist(admin_user, actor=admin_user)
    factories.bulk_items(bl, 5, datetime.now(UTC))
    client.login(admin_user.email, "wrong")
    client.login("nobody@example.com")
    admin_client.get("/admin/activity/feed.json?limit=3")
    body = admin_client.get("/admin/activity/export.csv?model=item").get_data()
    s = scrape(admin_client)
    assert value(s, "admin_login_failures_total", reason="wrong-password") == 1
    assert value(s, "admin_login_failures_total", reason="unknown-user") == 1
    assert value(s, "admin_logins_total") == 1  # the admin_client fixture's login
    assert value(s, "admin_activity_query_seconds_count", kind="page") == 1
    assert value(s, "admin_activity_query_rows_sum", kind="page") == 3
    assert value(s, "admin_activity_query_rows_sum", kind="stream") == 5
    assert value(s, "admin_export_rows_total", export="activity") == 5
    assert value(s, "admin_export_bytes_total", export="activity") == len(body)
    assert value(s, "admin_export_seconds_count", export="activity") == 1


def test_report_runs_by_status_duration_and_last_success(app, admin_client, reports_dir):
    before = time.time()
    runner.run_report(fake_report(lambda ctx: [("a", 1), ("b", 2)]), DAY, DAY + timedelta(days=1))

    def broken(ctx):
        raise RuntimeError("nope")
        yield

    with pytest.raises(runner.ReportFailed):
        runner.run_report(fake_report(broken), DAY, DAY + timedelta(days=1))
    s = scrape(admin_client)
    assert value(s, "admin_report_runs_total", report="fake", status="succeeded") == 1
    assert value(s, "admin_report_runs_total", report="fake", status="failed") == 1
    assert value(s, "admin_report_rows_total", report="fake") == 2
    assert value(s, "admin_report_duration_seconds_count", report="fake", status="succeeded") == 1
    assert before <= value(s, "admin_report_last_success_timestamp_seconds", report="fake") <= time.time()


def test_scheduler_ticks_count_due_and_claimed_periods(app, admin_client, reports_dir):
    defn = fake_report(lambda ctx: [], name="hourly", schedule="0 * * * *")
    tick([defn], DAY + timedelta(hours=3))
    tick([defn], DAY + timedelta(hours=3))
    s = scrape(admin_client)
    assert value(s, "admin_scheduler_ticks_total") == 2
    assert value(s, "admin_scheduler_due_periods_total") == 1
    assert value(s, "admin_scheduler_claimed_periods_total") == 1


def test_two_apps_in_one_process_count_only_their_own_work(app, database_url, admin_client):
    from tests.conftest import _config

    other = create_app({**_config(database_url), "METRICS_ENABLED": True})
    with other.app_context():
        from flask_activity import activity

        activity.fetch_page(activity.ActivityFilter())
    assert other.extensions["metrics"].registry.get_sample_value(
        "admin_activity_query_seconds_count", {"kind": "page"}) == 1
    assert value(scrape(admin_client), "admin_activity_query_seconds_count", kind="page") == 0


def test_an_app_that_built_statements_goes_away_with_its_receivers(app, database_url):
    """Built statements are kept in the app's own state, not in a module-level cache keyed on it: a cache that
    held the state held its app, and with it the app's metrics receivers (payloads built for nobody)."""
    import weakref

    from flask_activity import activity
    from tests.conftest import _config

    gc.collect()
    before = [set(s.receivers) for s in signals.ALL]  # this module's own app listens too
    other = create_app({**_config(database_url), "METRICS_ENABLED": True})
    assert [set(s.receivers) for s in signals.ALL] != before  # the other app's metrics listen
    with other.app_context():
        activity.fetch_page(activity.ActivityFilter())  # the page, count and day statements, built and kept
        activity.count_events(activity.ActivityFilter(), cap=10)
        activity.daily_counts(2, UTC, datetime.now(UTC))
    gone = weakref.ref(other)
    del other
    gc.collect()
    assert gone() is None, "something still holds the app"
    assert [set(s.receivers) for s in signals.ALL] == before


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    ({"METRICS_TOKEN": "short"}, "at least 16 characters"),
    ({"METRICS_ENABLED": True, "PROMETHEUS_MULTIPROC_DIR": "/nonexistent/metrics"}, "not a folder"),
])
def test_unsafe_metrics_settings_refuse_to_start(overrides, message):
    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    with pytest.raises(ConfigError, match=message):
        create_app({**config, **overrides})


@pytest.mark.parametrize("text, expected", [("true", True), ("1", True), ("ON", True), ("false", False),
                                            ("0", False), ("no", False)])
def test_metrics_enabled_reads_the_usual_spellings(monkeypatch, text, expected):
    monkeypatch.setenv("METRICS_ENABLED", text)
    assert from_environment()["METRICS_ENABLED"] is expected


def test_metrics_enabled_with_a_typo_is_a_config_error(monkeypatch):
    monkeypatch.setenv("METRICS_ENABLED", "treu")
    with pytest.raises(ConfigError, match="METRICS_ENABLED must be true or false, not 'treu'"):
        from_environment()


# --- several processes ----------------------------------------------------------------------


def test_runs_in_other_processes_are_summed_through_the_multiprocess_folder(app, admin_client, database_url,
                                                                           tmp_path):
    """Two CLI processes run reports (one fails); /metrics of this process shows all of them."""
    folder = tmp_path / "prom"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV",)}
    env.update(DATABASE_URL=database_url, SECRET_KEY="x" * 32, METRICS_ENABLED="true",
               PROMETHEUS_MULTIPROC_DIR=str(folder), INSTANCE_DIR=str(tmp_path / "instance"),
               REPORTS_DIR=str(tmp_path / "reports"))
    window = ["--since", "2026-03-02", "--until", "2026-03-03"]
    for args in (window, [*window, "--out", str(tmp_path / "missing" / "dir" / "x.csv")]):
        (tmp_path / "missing").mkdir(exist_ok=True)
        (tmp_path / "missing" / "dir").write_text("a file where a folder should be")
        proc = subprocess.run([sys.executable, "manage.py", "report", "run", "activity", *args], cwd=REPO_ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode in (0, 2), proc.stderr
    assert any(folder.iterdir()), "the processes wrote no metric files"
    app.config["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    s = scrape(admin_client)
    assert value(s, "admin_report_runs_total", report="activity", status="succeeded") == 1
    assert value(s, "admin_report_runs_total", report="activity", status="failed") == 1
    assert value(s, "admin_report_last_success_timestamp_seconds", report="activity") > 0
