"""The app under a real WSGI server (gunicorn) on 127.0.0.1, on a seeded database, for the browser journeys."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from admin_app import create_app
from admin_app.accounts import create_user
from admin_app.extensions import db
from admin_app.seed import seed_demo

ROOT = Path(__file__).resolve().parents[2]
ZONE = "Europe/Berlin"  # not UTC, so a time shown without its zone conversion would be caught
SECRET = "e2e-secret-key-not-for-production"
PASSWORD = "e2e-password-123"
ADMIN = "admin@example.com"
VIEWER = "viewer@example.com"
TRAVELLER = "traveller@example.com"  # a viewer who changes their display zone (the others keep the app's)


def seed(url: str, instance: Path) -> None:
    """Demo history (2 months, so the chart's 30 days and the feed's pages are full) and one user per role."""
    app = create_app({"APP_ENV": "development", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET,
                      "INSTANCE_DIR": str(instance), "APP_TIMEZONE": ZONE})
    with app.app_context():
        seed_demo(users=25, items=2_000, months=2, seed=7)
        create_user(ADMIN, PASSWORD, "admin", "Ada Admin")
        create_user(VIEWER, PASSWORD, "viewer", "Vic Viewer")
        create_user(TRAVELLER, PASSWORD, "viewer", "Tess Traveller")
        db.session.remove()
        db.engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """gunicorn (1 worker, 4 threads) serving create_app() with development settings; stopped by stop()."""

    def __init__(self, url: str, instance: Path, kind: str) -> None:
        self.kind = kind  # sqlite | postgresql
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.instance = instance
        self.log_path = instance / "server.log"
        env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "METRICS_ENABLED", "FLASK_DEBUG")}
        # Login limits counted by this server alone (a RATELIMIT_STORAGE_URI=redis:// in the developer's shell would
        # make every journey server of the run share one 5-a-minute budget per account).
        env.update(DATABASE_URL=url, SECRET_KEY=SECRET, INSTANCE_DIR=str(instance), APP_TIMEZONE=ZONE,
                   REPORTS_DIR=str(instance / "reports"), PYTHONPATH=str(ROOT), RATELIMIT_STORAGE_URI="memory://")
        gunicorn = Path(sys.executable).parent / "gunicorn"
        cmd = [str(gunicorn), "-w", "1", "-k", "gthread", "--threads", "4", "-b", f"127.0.0.1:{self.port}",
               "--log-level", "warning", "admin_app:create_app()"]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._wait()

    def _wait(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/login")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {seconds} s: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
