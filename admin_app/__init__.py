"""Query-based admin reporting for Flask + SQLAlchemy apps: the app factory."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError

from .config import (BASE_DIR, Config, ConfigError, check_debug, check_metrics, check_rate_limits, check_timezone,
                     config_from_env, from_environment)
from .errors import bad_request
from .extensions import csrf, db, login_manager, migrate

__all__ = ["create_app", "ConfigError"]


def create_app(config: type[Config] | dict[str, Any] | None = None) -> Flask:
    """Create the app. ``config`` is a Config class, a dict of overrides, or None for the environment's."""
    app = Flask(__name__, template_folder=str(BASE_DIR / "templates"), instance_relative_config=False)
    load_config(app, config)
    register_extensions(app)
    register_blueprints(app)
    register_security(app)
    register_commands(app)
    return app


def load_config(app: Flask, config: type[Config] | dict[str, Any] | None) -> None:
    """Class defaults, then environment variables, then an explicit dict (tests) win, in that order."""
    env_name = config.get("APP_ENV") if isinstance(config, dict) else None
    base = config if isinstance(config, type) else config_from_env(env_name)
    app.config.from_object(base)
    if not isinstance(config, dict):
        app.config.update(from_environment())
    else:
        app.config.update(config)
    app.config["APP_ENV"] = base.APP_ENV  # the class decides; no case variant can dodge production checks
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.config['INSTANCE_DIR']) / 'app.db'}"
        Path(app.config["INSTANCE_DIR"]).mkdir(parents=True, exist_ok=True)
    if not app.config.get("REPORTS_DIR"):
        app.config["REPORTS_DIR"] = str(Path(app.config["INSTANCE_DIR"]) / "reports")
    check_timezone(app.config["APP_TIMEZONE"])
    check_metrics(app.config)
    if app.config.get("REPORTS_DATABASE_URL"):  # a Flask-SQLAlchemy bind that only the report runner uses
        app.config["SQLALCHEMY_BINDS"] = {**(app.config.get("SQLALCHEMY_BINDS") or {}),
                                          "reports": app.config["REPORTS_DATABASE_URL"]}
    if not app.config.get("SECRET_KEY"):
        if app.config["APP_ENV"] == "production":
            raise ConfigError("SECRET_KEY must be set when APP_ENV=production "
                              "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')")
        app.config["SECRET_KEY"] = _instance_secret(Path(app.config["INSTANCE_DIR"]))
    check_debug(app.config)  # production refuses debug mode (FLASK_DEBUG, DEBUG) rather than start with it
    check_rate_limits(app.config)


def _instance_secret(instance_dir: Path) -> str:
    """A random key kept in instance/ so development sessions survive restarts; never shipped.

    Written to a private temporary file and linked into place, so no reader ever sees a
    partial key or a file readable by others.
    """
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / "secret_key"
    if not path.exists():
        tmp = instance_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # fails if another process won the race; then use its key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def register_extensions(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # Custom plans always: psycopg prepares a statement after five runs, and PostgreSQL may then switch the
        # prepared feed query to a generic plan that ignores the actor and the window (5 ms -> 19 ms at 1M items).
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        connect_args = dict(options.get("connect_args") or {})
        connect_args["options"] = f"{connect_args.get('options', '')} -c plan_cache_mode=force_custom_plan".strip()
        options["connect_args"] = connect_args
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from .dbutil import enable_sqlite_pragmas

        with app.app_context():
            enable_sqlite_pragmas(db.engine)


def register_blueprints(app: Flask) -> None:
    from . import auth
    from .admin import init_admin
    from .metrics import init_metrics

    app.register_blueprint(auth.bp)
    auth.init_rate_limits(app)
    init_admin(app)
    init_metrics(app)


def register_security(app: Flask) -> None:
    def _nonce() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)

    # First of all hooks: CSRFProtect's runs before ours, and a request it refuses used to get "'nonce-'" (invalid).
    app.before_request_funcs.setdefault(None, []).insert(0, _nonce)

    @app.before_request
    def _refuse_nul() -> Any:
        # No text column can hold NUL (PostgreSQL refuses it): say so instead of failing deep inside a query.
        for source in (request.args, request.form):
            for key, value in source.items(multi=True):
                if "\x00" in key or "\x00" in value:
                    return bad_request("a NUL character (%00) is not allowed in any parameter")
        return None

    @app.after_request
    def _headers(response: Any) -> Any:
        nonce = g.get("csp_nonce") or secrets.token_urlsafe(16)  # never an empty nonce
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.path.startswith("/admin") or request.path.startswith("/login"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        return render_template("error.html", code=400, message=f"Form expired or forged: {exc.description} Reload the page and try again."), 400

    for code in (400, 403, 404, 405):
        app.register_error_handler(code, lambda exc, code=code: (
            render_template("error.html", code=code, message=getattr(exc, "description", "")), code))

    from sqlalchemy.exc import InterfaceError, OperationalError, TimeoutError as PoolTimeout

    def _database_unavailable(exc: Exception) -> Any:
        # A lost or refused connection, a lock or statement timeout: retrying later helps, so 503, not 500.
        # The details (host, path, SQL) go to the log, never to the page.
        app.logger.error("database unavailable for %s %s", request.method, request.path, exc_info=exc)
        # Flask-Login's template context loads current_user: if the user was not loaded yet, rendering the page
        # would ask the database again. Render it as for an anonymous visitor (the session cookie is kept).
        g.setdefault("_login_user", login_manager.anonymous_user())
        message = "The database is not answering right now. Try again in a minute."
        if request.path.endswith(".json"):
            return {"error": message}, 503, {"Retry-After": "30"}
        return render_template("error.html", code=503, message=message), 503, {"Retry-After": "30"}

    for error in (OperationalError, InterfaceError, PoolTimeout):
        app.register_error_handler(error, _database_unavailable)


def register_commands(app: Flask) -> None:
    from .cli import register

    register(app)
