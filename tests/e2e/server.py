"""The seeded database and the live server (flask_activity.testing.LiveServer) the browser journeys run against."""
from __future__ import annotations

import os
from pathlib import Path

from admin_app import create_app
from admin_app.accounts import create_user
from admin_app.extensions import db
from admin_app.seed import seed_demo
from flask_activity.testing import LiveServer

ROOT = Path(__file__).resolve().parents[2]
ZONE = "Europe/Berlin"  # not UTC, so a time shown without its zone conversion would be caught
SECRET = "e2e-secret-key-not-for-production"
PASSWORD = "e2e-password-123"
ADMIN = "admin@example.com"
VIEWER = "viewer@example.com"
TRAVELLER = "traveller@example.com"  # a viewer who changes their display zone (the others keep the app's)
LEAVER = "leaver@example.com"  # an admin who logs out: logging out ends every session of an account


def seed(url: str, instance: Path) -> None:
    """Demo history (2 months, so the chart's 30 days and the feed's pages are full) and one user per role."""
    app = create_app({"APP_ENV": "development", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET,
                      "INSTANCE_DIR": str(instance), "APP_TIMEZONE": ZONE})
    with app.app_context():
        seed_demo(users=25, items=2_000, months=2, seed=7)
        create_user(ADMIN, PASSWORD, "admin", "Ada Admin")
        create_user(VIEWER, PASSWORD, "viewer", "Vic Viewer")
        create_user(TRAVELLER, PASSWORD, "viewer", "Tess Traveller")
        create_user(LEAVER, PASSWORD, "admin", "Lee Leaver")
        db.session.remove()
        db.engine.dispose()


class JourneyServer(LiveServer):
    """gunicorn (1 worker, 4 threads) serving create_app() with development settings on the seeded database."""

    def __init__(self, url: str, instance: Path, kind: str, smtp_port: int | None = None) -> None:
        self.kind = kind  # sqlite | postgresql
        self.instance = instance
        self.url = url
        env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "METRICS_ENABLED", "FLASK_DEBUG")}
        # Login limits counted by this server alone (a RATELIMIT_STORAGE_URI=redis:// in the developer's shell would
        # make every journey server of the run share one 5-a-minute budget per account).
        env.update(DATABASE_URL=url, SECRET_KEY=SECRET, INSTANCE_DIR=str(instance), APP_TIMEZONE=ZONE,
                   REPORTS_DIR=str(instance / "reports"), PYTHONPATH=str(ROOT), RATELIMIT_STORAGE_URI="memory://",
                   REPORT_RUN_NOW_WAIT="0")  # Run now answers at once: the journeys see the row refresh itself
        if smtp_port is not None:  # deliveries go to the journey's own SMTP server on 127.0.0.1
            env.update(SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", MAIL_FROM="activity@example.com")
        super().__init__(env, instance / "server.log", workers=1, threads=4, cwd=ROOT)
