"""Scheduled reports delivered to their recipients (the real SMTP server and HTTP receiver): the file attached, or
a signed expiring link when large; a signed webhook; a failed run's reason; the Reports page's recipients form."""
from __future__ import annotations

import csv
import html
import io
import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from admin_app.extensions import db
from flask_activity.cli.reports import _delivered
from flask_activity.delivery.models import Delivery, ReportRecipients
from flask_activity.delivery.report_delivery import deliver_run, save_recipients
from flask_activity.delivery.subscriptions import SubscriptionError
from flask_activity.reporting import runner
from flask_activity.reporting.registry import get_report
from flask_activity.types import utcnow
from tests import factories


@pytest.fixture
def app_config(app_config, tmp_path):  # the delivery settings, and a reports folder of this test's own
    return {**app_config, "REPORTS_DIR": str(tmp_path / "reports")}


def _run(admin_user, n: int = 3):
    bucketlist = factories.bucketlist(admin_user)
    for i in range(n):
        factories.item(bucketlist, f"=cell {i}")
    now = utcnow()
    return runner.run_report(get_report("items"), now - timedelta(days=1), now + timedelta(minutes=1))


def test_a_succeeded_run_is_emailed_with_its_file_and_posted_to_the_webhook(app, admin_user, smtp, receiver,
                                                                              client):
    secret = save_recipients("items", "ops@example.com, boss@example.com", receiver.url)
    run = _run(admin_user)
    sent = _delivered({"items": get_report("items")}, lambda run: None)
    sent(run)
    log = db.session.query(Delivery).order_by(Delivery.id).all()
    assert [(d.channel, d.target, d.status) for d in log] == [
        ("email", "ops@example.com", "sent"), ("email", "boss@example.com", "sent"), ("webhook", receiver.url, "sent")]

    first = smtp.messages[0]
    assert "Live items: " in first["Subject"] and f"{run.rows} rows" in first["Subject"]
    [attachment] = list(first.iter_attachments())
    rows = list(csv.reader(io.StringIO(attachment.get_content())))
    assert rows == list(csv.reader(io.StringIO(Path(app.config["REPORTS_DIR"], run.path).read_text())))

    [posted] = receiver.requests
    body = json.loads(posted["body"])
    assert (body["report"], body["run"], body["status"], body["sha256"]) == ("items", run.id, "succeeded", run.sha256)
    assert secret is not None and posted["headers"]["X-Signature"].startswith("t=")
    link = body["download_url"].removeprefix("https://admin.example.com")
    download = client.get(link)  # no login: the signature is the authority
    assert download.status_code == 200 and download.data == Path(app.config["REPORTS_DIR"], run.path).read_bytes()
    assert client.get(link[:-3] + "xyz").status_code == 404


def test_a_large_file_goes_as_a_link_that_expires(app, admin_user, smtp, client):
    app.config.update(REPORT_ATTACH_MAX_BYTES=10, REPORT_LINK_MAX_AGE=3600)
    save_recipients("items", "ops@example.com", "")
    run = _run(admin_user)
    deliver_run(run, get_report("items"))
    [message] = smtp.messages
    assert not list(message.iter_attachments())
    text = message.get_body(("plain",)).get_content()
    link = re.search(r"https://admin\.example\.com(/activity/reports/file/\S+)", text).group(1)
    assert "download it within 1 hours" in text and client.get(link).status_code == 200

    class Backdated(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - 3601)

    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="activity-report-file", signer=Backdated)
    assert client.get(f"/activity/reports/file/{old.dumps(run.id)}").status_code == 404  # expired


def test_a_failed_run_tells_its_recipients_why(app, admin_user, smtp):
    save_recipients("items", "ops@example.com", "")
    run = _run(admin_user)
    run.status, run.error = "failed", "cannot write to /reports: No space left on device"
    db.session.commit()
    deliver_run(run, get_report("items"))
    [message] = smtp.messages
    assert "FAILED" in message["Subject"]
    assert "No space left on device" in message.get_body(("plain",)).get_content()


def test_bad_recipients_are_refused_with_the_field_and_nothing_saved(app, admin_client):
    with pytest.raises(SubscriptionError, match="not an email address"):
        save_recipients("items", "ops@example.com not-an-address", "")
    r = admin_client.post_form("/admin/reports/recipients", {"report": "items", "emails": "ops at example",
                                                             "webhook_url": ""})
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 400 and "is not an email address" in page and 'value="ops at example"' in page
    assert db.session.get(ReportRecipients, "items") is None
    r = admin_client.post_form("/admin/reports/recipients", {"report": "items", "emails": "ops@example.com",
                                                             "webhook_url": ""}, follow_redirects=True)
    assert r.status_code == 200 and "ops@example.com" in r.get_data(as_text=True)
    assert db.session.get(ReportRecipients, "items").emails == ["ops@example.com"]
