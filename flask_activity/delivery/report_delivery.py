"""Scheduled reports delivered to their recipients: a succeeded run's file by email (attached, or a signed
expiring link above REPORT_ATTACH_MAX_BYTES) and a signed webhook POST; a failed run tells the recipients why.

Recipients are the definition's (``recipients=``, ``webhook=``) and an administrator's from the Reports page
(ReportRecipients). Sent by the scheduler process after it ran the period; every send is a Delivery row.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..reporting.definition import ReportDefinition
from ..reporting.files import report_file
from ..reporting.models import ReportRun
from ..state import db
from ..timefmt import format_local
from ..types import utcnow
from .digest import base_url
from .models import Delivery, ReportRecipients
from .retries import with_retries
from .senders import Outcome, post_webhook, send_email, sign
from .subscriptions import SubscriptionError, check_email, check_webhook_url, derived_secret

_LINK_SALT = "activity-report-file"


def recipients(defn: ReportDefinition) -> tuple[list[str], list[tuple[str, str]]]:
    """Email addresses and (webhook URL, secret salt) pairs for ``defn``: its definition's and the admin's."""
    row = db.session.get(ReportRecipients, defn.name)
    emails = list(dict.fromkeys([*defn.recipients, *(row.emails if row else [])]))
    hooks = [(defn.webhook, f"report:{defn.name}")] if defn.webhook else []
    if row is not None and row.webhook_url:
        hooks.append((row.webhook_url, row.webhook_salt or ""))
    return emails, hooks


def save_recipients(report: str, emails: str, webhook_url: str) -> str | None:
    """Store the admin's recipients of ``report`` (addresses separated by commas, spaces or lines); the webhook's
    signing secret when its URL is new (shown once). SubscriptionError names the field to fix."""
    addresses = [check_email(a) for a in emails.replace(",", " ").split()]
    if len(addresses) > 50:
        raise SubscriptionError("emails", "at most 50 addresses; use a mailing list for more")
    url = check_webhook_url(webhook_url) if webhook_url.strip() else None
    row = db.session.get(ReportRecipients, report) or ReportRecipients(report=report)
    new_hook = url is not None and url != row.webhook_url
    row.emails, row.webhook_url = addresses, url
    if new_hook:
        row.webhook_salt = secrets.token_hex(16)
    db.session.add(row)
    db.session.commit()
    return derived_secret(row.webhook_salt or "") if new_hook else None


def download_token(run: ReportRun) -> str:
    return str(URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_LINK_SALT).dumps(run.id))


def read_download_token(token: str) -> int | None:
    """The run id a link names, or None when it is forged or older than REPORT_LINK_MAX_AGE."""
    serializer = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_LINK_SALT)
    try:
        run_id = serializer.loads(token, max_age=int(current_app.config["REPORT_LINK_MAX_AGE"]))
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
    return run_id if isinstance(run_id, int) else None


def deliver_run(run: ReportRun, defn: ReportDefinition) -> list[Delivery]:
    """Send ``run`` (succeeded or failed) to every recipient of ``defn``; one Delivery row per recipient."""
    emails, hooks = recipients(defn)
    if not emails and not hooks:
        return []
    path = report_file(run, current_app.config["REPORTS_DIR"]) if run.status == "succeeded" else None
    link = f"{base_url()}/activity/reports/file/{download_token(run)}" if path is not None else None
    done = []
    for address in emails:
        if not current_app.config["SMTP_URL"]:
            done.append(_record(run, "email", address, Outcome(False, None, "SMTP_URL is not set", False), []))
            continue
        message = _email(run, defn, address, path, link)

        def mail(message: EmailMessage = message) -> Outcome:
            return send_email(message)

        done.append(_record(run, "email", address, *with_retries(mail)))
    for url, salt in hooks:
        body = json.dumps({"report": defn.name, "run": run.id, "status": run.status, "rows": run.rows,
                           "bytes": run.bytes, "sha256": run.sha256, "error": run.error,
                           "period": {"since": run.period_start.isoformat(), "until": run.period_end.isoformat()},
                           "download_url": link}, separators=(",", ":")).encode()
        key = uuid.uuid4().hex
        try:
            check_webhook_url(url)
        except SubscriptionError as exc:
            done.append(_record(run, "webhook", url, Outcome(False, None, str(exc), False), [], key))
            continue

        def once(url: str = url, salt: str = salt, body: bytes = body, key: str = key) -> Outcome:
            headers = {"Idempotency-Key": key, "X-Signature": sign(derived_secret(salt), int(time.time()), body)}
            return post_webhook(url, body, headers)

        done.append(_record(run, "webhook", url, *with_retries(once), key))
    return done


def _email(run: ReportRun, defn: ReportDefinition, address: str, path: Path | None, link: str | None) -> EmailMessage:
    zone = defn.zone
    app_name = current_app.config.get("APP_NAME") or "Activity"
    period = f"{format_local(run.period_start, zone)} to {format_local(run.period_end, zone)}"
    message = EmailMessage()
    message["From"], message["To"], message["Date"] = current_app.config["MAIL_FROM"], address, formatdate()
    key = uuid.uuid4().hex
    message["Message-ID"] = f"<{key}@{str(current_app.config['MAIL_FROM']).rsplit('@', 1)[-1].strip('> ')}>"
    if run.status != "succeeded" or path is None:
        message["Subject"] = f"[{app_name}] {defn.title} FAILED for {period}"
        message.set_content(f"The report {defn.title} ({defn.name}) failed for {period}.\n\nWhy: {run.error}\n\n"
                            f"Run history: {base_url()}/admin/reports/?report={defn.name}\n")
        return message
    size = path.stat().st_size
    message["Subject"] = f"[{app_name}] {defn.title}: {run.rows} rows for {period}"
    text = (f"{defn.title} ({defn.name}) for {period}: {run.rows} rows, {size} bytes, SHA-256 {run.sha256}.\n")
    if size <= int(current_app.config["REPORT_ATTACH_MAX_BYTES"]):
        message.set_content(text + "The file is attached.\n")
        maintype, subtype = ("application", "gzip") if path.suffix == ".gz" else ("text", "csv")
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    else:
        hours = int(current_app.config["REPORT_LINK_MAX_AGE"]) // 3600
        message.set_content(text + f"The file is too large to attach; download it within {hours} hours:\n{link}\n")
    return message


def _record(run: ReportRun, channel: str, target: str, outcome: Outcome, tried: list[dict[str, Any]],
            key: str | None = None) -> Delivery:
    now = utcnow()
    delivery = Delivery(subscription_id=None, report=run.report, report_run_id=run.id, channel=channel,
                        key=key or uuid.uuid4().hex, target=target, window_start=run.period_start,
                        window_end=run.period_end, status="sent" if outcome.ok else "failed", events=run.rows,
                        attempts=len(tried), code=outcome.code, error=outcome.error, response_ms=outcome.ms,
                        details=tried,
                        started_at=now, finished_at=now, host=socket.gethostname(), pid=os.getpid())
    db.session.add(delivery)
    db.session.commit()
    return delivery


def link_run(token: str) -> Any:
    """The run a signed download link names (None when forged, expired or unknown)."""
    run_id = read_download_token(token)
    return db.session.get(ReportRun, run_id) if run_id is not None else None
