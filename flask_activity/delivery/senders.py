"""One attempt to send: an email over SMTP_URL (smtplib) or a signed POST to a webhook (http.client). Each returns
an Outcome saying whether it worked, the server's code, and whether trying again could help (the retry policy
is the deliverer's). Nothing here follows a redirect or reads more than WEBHOOK_MAX_RESPONSE bytes."""
from __future__ import annotations

import hashlib
import hmac
import http.client
import smtplib
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app

WEBHOOK_MAX_RESPONSE = 64 * 1024
_TRANSIENT_HTTP = {408, 429}


@dataclass
class Outcome:
    """How one attempt ended: ``ok``; the HTTP status or SMTP reply code; the error in one line; whether a later
    attempt could succeed; how long the server took to answer (ms)."""

    ok: bool
    code: int | None = None
    error: str | None = None
    transient: bool = False
    ms: int | None = None
    unsure: bool = False  # no answer came (a timeout): the receiver may have it


class SendFailed(Exception):
    """An attempt that did not deliver (carries its Outcome)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error or "not delivered")
        self.outcome = outcome


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Signature header: ``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def smtp_settings() -> dict[str, object]:
    """SMTP_URL parsed: smtp://[user:password@]host[:port][?starttls=1] or smtps://... (TLS from the start)."""
    url = urlsplit(current_app.config["SMTP_URL"] or "")
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise ValueError("SMTP_URL must look like smtp://host:25, smtp://user:password@host:587?starttls=1 or "
                         "smtps://host:465")
    return {"tls": url.scheme == "smtps", "starttls": "starttls=1" in (url.query or "") or url.port == 587,
            "host": url.hostname, "port": url.port or (465 if url.scheme == "smtps" else 25),
            "user": unquote(url.username) if url.username else None,
            "password": unquote(url.password) if url.password else None}


def send_email(message: EmailMessage, timeout: float | None = None) -> Outcome:
    """One SMTP transaction. 4xx replies, refused or dropped connections and timeouts are transient; 5xx (an
    unknown mailbox, a refused sender) is not."""
    settings = smtp_settings()
    timeout = min(timeout or float("inf"), float(current_app.config["SMTP_TIMEOUT"]))
    started = time.perf_counter()
    client_class = smtplib.SMTP_SSL if settings["tls"] else smtplib.SMTP
    try:
        with client_class(str(settings["host"]), int(settings["port"]), timeout=timeout) as smtp:  # type: ignore[call-overload]
            if settings["starttls"]:
                smtp.starttls(context=ssl.create_default_context())
            if settings["user"]:
                smtp.login(str(settings["user"]), str(settings["password"] or ""))
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        code = max(codes) if codes else None
        return Outcome(False, code, f"recipient refused: {_reply(exc.recipients)}", all(400 <= c < 500 for c in codes),
                       _ms(started))
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return Outcome(False, exc.smtp_code, f"SMTP {exc.smtp_code} {text}".strip(), 400 <= exc.smtp_code < 500,
                       _ms(started))
    except (smtplib.SMTPException, OSError) as exc:
        timed_out = isinstance(exc, socket.timeout | TimeoutError)
        return Outcome(False, None, f"SMTP server not reachable: {exc or type(exc).__name__}", True, _ms(started),
                       unsure=timed_out)
    return Outcome(True, 250, None, False, _ms(started))


def post_webhook(url: str, body: bytes, headers: Mapping[str, str], timeout: float | None = None) -> Outcome:
    """One POST. 2xx delivered; 408, 429, 5xx, timeouts and network errors are transient; a redirect (never
    followed) and other 4xx are not."""
    parts = urlsplit(url)
    timeout = min(timeout or float("inf"), float(current_app.config["WEBHOOK_TIMEOUT"]))
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.perf_counter()
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json",
                                                             "User-Agent": "flask-activity-webhook", **headers})
        response = connection.getresponse()
        response.read(WEBHOOK_MAX_RESPONSE)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        timed_out = isinstance(exc, socket.timeout | TimeoutError)
        return Outcome(False, None, f"the request {'timed out' if timed_out else 'failed'}: "
                                    f"{exc or type(exc).__name__}", True, _ms(started), unsure=timed_out)
    finally:
        connection.close()
    ms = _ms(started)
    if 200 <= status < 300:
        return Outcome(True, status, None, False, ms)
    if 300 <= status < 400:
        return Outcome(False, status, f"HTTP {status}: redirects are not followed; give the final URL", False, ms)
    transient = status in _TRANSIENT_HTTP or status >= 500
    return Outcome(False, status, f"HTTP {status} {http.client.responses.get(status, '')}".strip(), transient, ms)


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _reply(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{who}: {code} {text.decode(errors='replace')}" for who, (code, text) in recipients.items())
