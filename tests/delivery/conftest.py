"""Real receivers on 127.0.0.1 for the delivery tests: an SMTP server (aiosmtpd's Controller) and an HTTP server
(the standard library's), each recording what arrived and answering as a test scripts it."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from flask_activity.testing.server import free_port
from flask_activity.testing.smtp import SmtpSink

HOST = "127.0.0.1"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname=HOST, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@dataclass
class Receiver:
    """What the HTTP receiver got (method, path, headers, body), and its scripted answers: (status, seconds to
    sleep first, extra headers); 200 when the script is empty."""

    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: deque[tuple[int, float, dict[str, str]]] = field(default_factory=deque)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver(port=free_port())
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                status, pause, headers = got.script.popleft() if got.script else (200, 0.0, {})
                got.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                     "status": status})
            if pause:
                time.sleep(pause)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, got.port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def app_config(smtp: SmtpSink) -> dict[str, Any]:
    """Deliveries to the local receivers, retries in milliseconds, periods delivered as soon as they end."""
    return {"SMTP_URL": f"smtp://{HOST}:{smtp.port}", "MAIL_FROM": "activity@example.com",
            "WEBHOOK_ALLOW_HTTP": True, "WEBHOOK_ALLOW_PRIVATE": True, "WEBHOOK_TIMEOUT": 0.5,
            "SMTP_TIMEOUT": 2, "DELIVERY_RETRY_BASE": 0.001, "DELIVERY_RETRY_WINDOW": 5,
            "DELIVERY_SETTLE_SECONDS": 0, "ACTIVITY_BASE_URL": "https://admin.example.com"}
