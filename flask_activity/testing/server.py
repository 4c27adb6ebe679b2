"""Start the app under a real WSGI server (gunicorn) on 127.0.0.1 for a test or a benchmark, and stop it.

The one place that knows how: the browser journeys (tests/e2e) and the benchmarks (bench/) both use it.

    server = LiveServer(env, log_path=tmp / "server.log", workers=2)
    status, headers, body = server.request("GET", "/login")
    server.stop()
"""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class LiveServer:
    """gunicorn (gthread workers) serving ``app`` on a free port of 127.0.0.1; ready once ``ready_path`` says 200.

    ``env`` is the whole environment of the server (the app's settings among it). ``fallback`` is the command to
    run instead when gunicorn is not installed, ``{port}`` in it replaced by the port (None: gunicorn required);
    ``command`` is one to run instead of gunicorn in any case (a test of another server, e.g. ``manage.py run``).
    The server runs in its own process group, so ``stop()`` ends its workers too.
    """

    def __init__(self, env: Mapping[str, str], log_path: Path, *, workers: int = 1, threads: int = 4,
                 app: str = "admin_app:create_app()", cwd: Path | None = None,
                 fallback: Sequence[str] | None = None, ready_path: str = "/login", wait_seconds: float = 60,
                 command: Sequence[str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        gunicorn = Path(sys.executable).parent / "gunicorn"
        fallback = command or fallback
        self.gunicorn = command is None and (gunicorn.exists() or fallback is None)
        if self.gunicorn:
            cmd = [str(gunicorn), "-w", str(workers), "-k", "gthread", "--threads", str(threads),
                   "-b", f"{HOST}:{self.port}", "--log-level", "warning", app]
        else:
            cmd = [part.replace("{port}", str(self.port)) for part in fallback or ()]
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - open for the server's lifetime, closed by stop()
        self.proc = subprocess.Popen(cmd, env=dict(env), cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self._wait(ready_path, wait_seconds)
        except BaseException:
            self.stop()
            raise

    def _wait(self, path: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log()[-2000:]}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {seconds:g} s: {self.log()[-2000:]}")

    def request(self, method: str, path: str, body: str | None = None, headers: Mapping[str, str] | None = None,
                conn: http.client.HTTPConnection | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request (on ``conn`` if given, else a connection of its own): status, headers, body."""
        own = conn is None
        connection = conn or http.client.HTTPConnection(HOST, self.port, timeout=120)
        connection.request(method, path, body=body, headers=dict(headers or {}))
        resp = connection.getresponse()
        data = resp.read()
        if own:
            connection.close()
        return resp.status, resp.headers, data

    def log(self) -> str:
        """Everything the server wrote (stdout and stderr) so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM to the server's process group (SIGKILL after 15 s); closes the log. Safe to call twice."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
