"""The admin Reports page: definitions, run history, downloads confined to REPORTS_DIR, Run now, dashboard alert."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from admin_app.extensions import db
from flask_activity.reporting import runner
from flask_activity.reporting.models import ReportRun
from flask_activity.reporting.registry import load_reports
from flask_activity.reporting.scheduler import next_fire_time
from flask_activity.timefmt import format_local
from flask_activity.types import utcnow
from tests import factories

DAY = datetime(2026, 3, 2, tzinfo=UTC)
PAGE = "/admin/reports/"


def run(name: str, gzip: bool = False, day: datetime = DAY) -> ReportRun:
    return runner.run_report(load_reports()[name], day, day + timedelta(days=1), gzip=gzip)


def boom(ctx):
    raise RuntimeError("the warehouse is on fire")
    yield  # pragma: no cover - makes this a generator


def failed_run(name: str) -> ReportRun:
    """A real failed run of a built-in report: same name, rows that raise."""
    broken = dataclasses.replace(load_reports()[name], query=None, rows=boom)
    with pytest.raises(runner.ReportFailed) as info:
        runner.run_report(broken, DAY, DAY + timedelta(days=1))
    return info.value.run


def stored_run(**kw) -> ReportRun:
    row = ReportRun(report="items", params={}, period_start=DAY, period_end=DAY + timedelta(days=1),
                    status="succeeded", **kw)
    db.session.add(row)
    db.session.commit()
    return row


def run_count() -> int:
    db.session.rollback()  # end the test's own read transaction: see what the requests committed
    return db.session.scalar(select(func.count(ReportRun.id)))


def download_url(run_id: int) -> str:
    return f"/admin/reports/download/{run_id}"


# --- the page ---------------------------------------------------------------------------------------------


def test_page_lists_the_four_builtin_reports_with_next_run(viewer_client, reports_dir):
    defs = load_reports()
    before = utcnow()
    page = viewer_client.get(PAGE).get_data(as_text=True)
    after = utcnow()
    assert list(defs) == ["activity", "daily-activity", "user-activity", "items"]
    for d in defs.values():
        assert escape(d.title) in page and escape(d.description) in page and f"{d.retention_days} days" in page
        if d.schedule:
            assert d.schedule in page
            assert format_local(next_fire_time(d, before)) in page or format_local(next_fire_time(d, after)) in page
    assert page.count("not scheduled") == 2
    assert page.count("never run") == 4
    assert "No runs yet." in page
    assert "Run now" not in page and 'action="/admin/reports/run"' not in page  # viewers get no form


def test_admin_sees_a_run_now_form_per_report_with_its_default_period(admin_client, reports_dir):
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert page.count('action="/admin/reports/run"') == 4
    assert page.count('name="csrf_token"') >= 4
    for d in load_reports().values():
        select_html = re.search(rf'<select[^>]*id="period-{d.name}".*?</select>', page, re.S).group(0)
        assert f'<option value="{d.default_period}" selected>' in select_html


def test_history_shows_runs_newest_first_with_status_period_and_error(app, viewer_client, reports_dir):
    app.config["APP_TIMEZONE"] = "America/New_York"
    items = run("items")
    activity = run("activity")
    failed = failed_run("items")
    page = viewer_client.get(PAGE).get_data(as_text=True)
    rows = re.findall(r'<tr class="run-(\w+)"[^>]*>\s*<td[^>]*>(\d+)</td>', page)
    assert rows == [("failed", str(failed.id)), ("succeeded", str(activity.id)), ("succeeded", str(items.id))]
    # the period in the display zone, with the zone named
    assert format_local(DAY, ZoneInfo("America/New_York")) == "2026-03-01 19:00:00 EST"
    assert "2026-03-01 19:00:00 EST &ndash; 2026-03-02 19:00:00 EST" in page
    assert "RuntimeError: the warehouse is on fire" in page
    assert f'href="{download_url(items.id)}"' in page and f'href="{download_url(activity.id)}"' in page
    assert download_url(failed.id) not in page
    # the last run of each report next to its definition
    assert page.count(">failed</span>") == 2 and page.count("never run") == 2


def test_history_filter_by_report_and_unknown_report_is_400(viewer_client, reports_dir):
    items, activity = run("items"), run("activity")
    page = viewer_client.get(PAGE, query_string={"report": "items"}).get_data(as_text=True)
    assert re.findall(r'<tr class="run-\w+"[^>]*>\s*<td[^>]*>(\d+)</td>', page) == [str(items.id)]
    assert download_url(activity.id) not in page
    response = viewer_client.get(PAGE, query_string={"report": "no-such-report"})
    assert response.status_code == 400
    assert "unknown report 'no-such-report'" in html.unescape(response.get_data(as_text=True))


def test_history_hides_download_when_the_file_is_gone(viewer_client, reports_dir):
    done = run("items")
    (reports_dir / done.path).unlink()
    page = viewer_client.get(PAGE).get_data(as_text=True)
    assert download_url(done.id) not in page and "file no longer available" in page


# --- downloads --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True], ids=["csv", "gzip"])
def test_viewer_downloads_the_exact_file_of_a_succeeded_run(app, admin_user, viewer_client, reports_dir, compressed):
    bl = factories.bucketlist(admin_user, "Trips", actor=admin_user)
    factories.item(bl, "See Kyoto", actor=admin_user)
    done = runner.run_report(load_reports()["items"], DAY, utcnow() + timedelta(days=1), gzip=compressed)
    on_disk = (reports_dir / done.path).read_bytes()
    response = viewer_client.get(download_url(done.id))
    assert response.status_code == 200
    assert response.data == on_disk
    assert response.mimetype == ("application/gzip" if compressed else "text/csv")
    assert response.headers["Cache-Control"] == "no-store"  # like every data response (send_file said no-cache)
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and Path(done.path).name in disposition
    text = gzip.decompress(response.data).decode() if compressed else response.get_data(as_text=True)
    assert "See Kyoto" in text


def test_an_older_run_of_the_same_period_is_superseded_not_served_the_newer_file(app, admin_user, viewer_client,
                                                                                 reports_dir, caplog):
    bl = factories.bucketlist(admin_user, "Trips", actor=admin_user)
    factories.item(bl, "See Kyoto", actor=admin_user)
    until = utcnow() + timedelta(days=1)
    older = runner.run_report(load_reports()["items"], DAY, until)
    factories.item(bl, "See Nara", actor=admin_user)
    newer = runner.run_report(load_reports()["items"], DAY, until)
    assert older.path == newer.path and older.sha256 != newer.sha256  # the same file name, other bytes

    refused = viewer_client.get(download_url(older.id))
    assert refused.status_code == 410 and f"replaced by run {newer.id}" in refused.get_data(as_text=True)
    assert b"See Nara" not in refused.data
    page = viewer_client.get("/admin/reports/").get_data(as_text=True)
    assert f"superseded by run {newer.id}" in page and download_url(older.id) not in page
    assert older.sha256 in page and newer.sha256 in page
    served = viewer_client.get(download_url(newer.id))
    assert served.status_code == 200 and hashlib.sha256(served.data).hexdigest() == newer.sha256

    (reports_dir / newer.path).write_bytes(b"id,title\n1,tampered\n")  # changed on disk after the run
    with caplog.at_level("ERROR"):
        tampered = viewer_client.get(download_url(newer.id))
    assert tampered.status_code == 409 and b"tampered" not in tampered.data
    assert "SHA-256 no longer matches" in tampered.get_data(as_text=True)
    assert any("does not match the SHA-256" in r.getMessage() for r in caplog.records)


def test_run_paths_outside_reports_dir_are_refused(viewer_client, reports_dir, tmp_path):
    secret = tmp_path / "secret.txt"  # exists, just outside REPORTS_DIR
    secret.write_bytes(b"TOP-SECRET-BYTES")
    reports_dir.mkdir(parents=True)
    (reports_dir / "items").mkdir()
    (reports_dir / "items" / "link.csv").symlink_to(secret)
    for path in ("../secret.txt", "items/../../secret.txt", str(secret), "../../etc/passwd", "/etc/passwd",
                 "items/link.csv", ".", ""):
        bad = stored_run(path=path)
        response = viewer_client.get(download_url(bad.id))
        assert response.status_code == 404, path
        assert b"TOP-SECRET-BYTES" not in response.data and b"root:" not in response.data, path


def test_failed_missing_and_unknown_runs_are_404(viewer_client, reports_dir):
    failed = failed_run("items")
    assert failed.status == "failed"
    # a file where the failed run's path would be must not make it downloadable
    fake = reports_dir / "items" / "fake.csv"
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_text("x\r\n")
    failed.path = "items/fake.csv"
    db.session.commit()
    assert viewer_client.get(download_url(failed.id)).status_code == 404
    gone = run("items")
    (reports_dir / gone.path).unlink()
    assert viewer_client.get(download_url(gone.id)).status_code == 404
    assert viewer_client.get(download_url(gone.id + 1000)).status_code == 404


def test_anonymous_is_sent_to_login(client, reports_dir):
    done = run("items")
    for url in (PAGE, download_url(done.id)):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"]


# --- Run now ----------------------------------------------------------------------------------------------


def test_viewer_cannot_run_a_report(viewer_client, reports_dir):
    response = viewer_client.post_form("/admin/reports/run", {"report": "items", "period": "today"})
    assert response.status_code == 403
    assert run_count() == 0
    assert not reports_dir.exists()


def test_run_now_without_csrf_token_is_400(admin_client, reports_dir):
    response = admin_client.post("/admin/reports/run", data={"report": "items", "period": "today"})
    assert response.status_code == 400
    assert run_count() == 0


def test_admin_runs_a_report_now(admin_client, admin_user, reports_dir):
    bl = factories.bucketlist(admin_user, "Trips", actor=admin_user)
    factories.item(bl, "See Kyoto", actor=admin_user)
    response = admin_client.post_form("/admin/reports/run", {"report": "items", "period": "today"})
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    assert run_count() == 1
    done = db.session.scalars(select(ReportRun)).one()
    assert (done.report, done.status, done.rows) == ("items", "succeeded", 1)
    assert done.period_end - done.period_start == timedelta(days=1)
    assert "See Kyoto" in (reports_dir / done.path).read_text()
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert f"Live items (today), run {done.id}: 1 rows" in page
    assert 'Download the file' in page
    assert f'href="{download_url(done.id)}"' in page


def test_run_now_failure_is_flashed_and_recorded(app, admin_client, reports_dir):
    reports_dir.parent.mkdir(parents=True, exist_ok=True)
    reports_dir.write_text("a file where the folder should be")  # the run cannot create its folder
    response = admin_client.post_form("/admin/reports/run", {"report": "items", "period": "yesterday"})
    assert response.status_code == 302
    assert run_count() == 1
    failed = db.session.scalars(select(ReportRun)).one()
    assert failed.status == "failed" and "cannot write to" in failed.error
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert f"Live items (yesterday), run {failed.id} failed: cannot write to" in page


def test_run_now_unknown_report_or_period_is_400(admin_client, reports_dir):
    for data, message in (({"report": "nope", "period": "today"}, "unknown report 'nope'"),
                          ({"report": "items", "period": "last-decade"}, "unknown period 'last-decade'"),
                          ({"report": "items"}, "unknown period ''")):
        response = admin_client.post_form("/admin/reports/run", data)
        assert response.status_code == 400, data
        body = html.unescape(response.get_data(as_text=True))
        assert message in body and "Nothing was run." in body
        assert body.count('action="/admin/reports/run"') == 4  # the Reports page again, every form on it
        if data["report"] == "items":  # beside that report's Run now form, its period field marked
            assert 'id="run-error-items"' in body and 'aria-describedby="run-error-items"' in body
    assert run_count() == 0


# --- dashboard --------------------------------------------------------------------------------------------


def test_dashboard_alerts_only_while_the_latest_run_of_a_report_failed(viewer_client, reports_dir):
    def alerts() -> list[str]:
        page = viewer_client.get("/admin/").get_data(as_text=True)
        return re.findall(r'<div class="alert alert-danger report-failure".*?</div>', page, re.S)

    run("items")
    assert alerts() == []
    failed = failed_run("items")
    run("activity")  # a later success of another report does not clear it
    [alert] = alerts()
    assert "<strong>items</strong>" in alert
    assert "RuntimeError: the warehouse is on fire" in alert
    assert format_local(failed.finished_at) in alert
    assert 'href="/admin/reports/?report=items"' in alert
    run("items")  # the report's newest run succeeded: no alert
    assert alerts() == []


def test_schedules_are_shown_in_words_with_the_cron_in_the_title(admin_client):
    page = html.unescape(admin_client.get("/admin/reports/").get_data(as_text=True))
    assert '<span class="schedule" title="cron: 15 0 * * *">At 00:15, every day (UTC)</span>' in page
