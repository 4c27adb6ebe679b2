"""The app as the benchmarks reach it: a logged-in live server (flask_activity.testing.LiveServer), or in process.

``BenchServer`` is the shared server start of the suite, the mixed load test and the sqlmap scan; the helpers
below log the bench admin in through the test client and call the WSGI app the way a server would.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from http.client import HTTPConnection, HTTPMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder

from bench import PY, ROOT, datasets
from flask_activity.testing import LiveServer

USER_AGENT = "bench-suite"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on ``page``."""
    match = CSRF.search(page)
    if match is None:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


class BenchServer(LiveServer):
    """gunicorn (2 workers) with the app on 127.0.0.1, or waitress via manage.py run when gunicorn is missing;
    logged in as the bench admin (``cookie``) once it answers."""

    def __init__(self, ds: datasets.Dataset, data_dir: Path, work: Path,
                 extra_env: Mapping[str, str] | None = None, workers: int = 2,
                 command: list[str] | None = None) -> None:
        """``command``: serve with this instead of gunicorn (``manage.py run ...``)."""
        self.cookie = ""
        env = {**datasets.app_env(ds.url, data_dir), **(extra_env or {})}
        super().__init__(env, work / "server.log", workers=workers, threads=4, cwd=ROOT,
                         fallback=[PY, "manage.py", "run", "--port", "{port}", "--workers", "1"], command=command)
        self.kind = (f"gunicorn {workers} workers (gthread, 4 threads each)" if self.gunicorn else
                     " ".join(command) if command else
                     "waitress (manage.py run, 1 process, 8 threads): gunicorn is not installed")
        try:
            self.login()
        except BaseException:
            self.stop()
            raise

    def request(self, method: str, path: str, body: str | None = None, headers: Mapping[str, str] | None = None,
                conn: HTTPConnection | None = None) -> tuple[int, HTTPMessage, bytes]:
        """One request with the bench's User-Agent and the session cookie."""
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        if self.cookie:
            sent["Cookie"] = self.cookie
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        return super().request(method, path, body, sent, conn)

    def login(self) -> None:
        status, headers, page = self.request("GET", "/login")
        self.cookie = "; ".join(c.split(";")[0] for c in headers.get_all("Set-Cookie") or [])
        token = csrf_token(page.decode())
        status, headers, _ = self.request("POST", "/login", urlencode(
            {"email": datasets.ADMIN_EMAIL, "password": datasets.ADMIN_PASSWORD, "csrf_token": token}))
        if status != 302:
            raise RuntimeError(f"login through the server failed: HTTP {status}")
        self.cookie = "; ".join(c.split(";")[0] for c in headers.get_all("Set-Cookie") or [])
        if self.request("GET", "/admin/activity/feed.json")[0] != 200:
            raise RuntimeError("the session cookie does not open feed.json")

    def log_counts(self) -> dict[str, Any]:
        """'database is locked', tracebacks, worker timeouts and the first distinct errors in the server's log."""
        text = self.log()
        errors = [line for line in text.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", line)]
        return {"database_is_locked": text.lower().count("database is locked"),
                "tracebacks": text.count("Traceback (most recent call last)"),
                "worker_timeouts": text.count("WORKER TIMEOUT"),
                "first_errors": list(dict.fromkeys(e[:300] for e in errors))[:3]}


def test_client_login(app: Flask) -> FlaskClient:
    """A test client logged in as the bench admin through the login form."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    token = csrf_token(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"email": datasets.ADMIN_EMAIL, "password": datasets.ADMIN_PASSWORD,
                                       "csrf_token": token})
    if resp.status_code != 302:
        raise RuntimeError(f"login failed: HTTP {resp.status_code}")
    return client


def wsgi_get(app: Any, path: str, cookie: str | None, out: Path) -> tuple[int, int]:
    """Call the WSGI app as a server would, streaming the body to ``out``; (status, bytes)."""
    headers = {"User-Agent": USER_AGENT}
    if cookie:
        headers["Cookie"] = cookie
    env = EnvironBuilder(path=path, headers=list(headers.items()),
                         environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()
    status: list[str] = []

    def start_response(s: str, _headers: Any, _exc: Any = None) -> Any:
        status.append(s)
        return lambda _b: None

    size = 0
    body = app(env, start_response)
    try:
        with open(out, "wb") as fh:
            for chunk in body:
                size += len(chunk)
                fh.write(chunk)
    finally:
        if hasattr(body, "close"):
            body.close()
    return int(status[0].split()[0]), size
