"""Query-based admin reporting for Flask + SQLAlchemy apps: the app factory."""
from __future__ import annotations

from typing import Any

from flask import Flask

from flask_activity import limits

from . import errors, security
from .config import BASE_DIR, Config, ConfigError, load_config
from .dbutil import bound_web_statements, enable_sqlite_pragmas, ping_when_idle, with_custom_plans
from .extensions import csrf, db, login_manager, migrate

__all__ = ["ConfigError", "create_app"]


def create_app(config: type[Config] | dict[str, Any] | None = None) -> Flask:
    """Create the app. ``config`` is a Config class, a dict of overrides, or None for the environment's."""
    app = Flask(__name__, template_folder=str(BASE_DIR / "templates"), instance_relative_config=False)
    load_config(app, config)
    register_extensions(app)
    register_blueprints(app)
    security.init_app(app)
    errors.init_app(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind the database, migrations, login and CSRF protection to ``app``, with per-database engine settings and
    the limits of one web request (its database time, its query string)."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgresql"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = with_custom_plans(app.config.get("SQLALCHEMY_ENGINE_OPTIONS"))
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # Flask-Login's "strong" protection only marks a permanent session non-fresh: auth.session_refusal binds a
    # session to its User-Agent, its epoch and its lifetimes instead.
    login_manager.session_protection = None
    app.permanent_session_lifetime = app.config["SESSION_MAX_AGE"]
    csrf.init_app(app)
    with app.app_context():
        if uri.startswith("sqlite"):
            enable_sqlite_pragmas(db.engine)
        for engine in db.engines.values():  # the reports bind too; first: the checks below use the connection
            ping_when_idle(engine, float(app.config["DATABASE_PING_IDLE"]))
        bound_web_statements(db.session, db.engine)
    limits.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Login and logout, and the admin interface with the reporting layer (its feed, reports, CLI and /metrics)."""
    from . import auth
    from .admin import init_admin

    app.register_blueprint(auth.bp)
    auth.init_rate_limits(app)
    init_admin(app)


def register_commands(app: Flask) -> None:
    """The `manage.py` commands (admin_app.cli)."""
    from . import cli

    cli.init_app(app)
