"""Helpdesk: a small help-desk app (tickets, comments, canned replies) that adopts flask-activity.

    flask --app examples.helpdesk init-db && flask --app examples.helpdesk seed && flask --app examples.helpdesk run
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from . import auth, cli
from .activity import init_activity
from .admin import init_admin
from .config import SettingError, load_config
from .extensions import csrf, db, login_manager, migrate

__all__ = ["MIGRATIONS", "SettingError", "create_app"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The help desk; ``config`` overrides the settings read from the environment (tests)."""
    app = Flask(__name__)
    load_config(app, config)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)

    app.register_blueprint(auth.bp)
    init_activity(app, db, init_admin(app))
    cli.init_app(app)
    return app
