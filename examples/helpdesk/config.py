"""The help desk's settings: defaults, then the environment, then the factory's overrides (the only module that
reads environment variables, and only when create_app calls it)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import click
from flask import Flask


class SettingError(click.ClickException):
    """A setting the app cannot start with; ``flask`` prints it as one line (exit status 2), not a traceback."""

    exit_code = 2


def load_config(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill ``app.config``; SettingError when there is no SECRET_KEY outside debug or testing."""
    instance = Path(app.instance_path)
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI=os.environ.get("HELPDESK_DATABASE_URL")
        or f"sqlite:///{instance / 'helpdesk.db'}",
        SECRET_KEY=os.environ.get("SECRET_KEY"),
        REPORTS_DIR=str(instance / "helpdesk-reports"),
        PASSWORD_METHOD="scrypt",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.update(overrides or {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        instance.mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        if not (app.debug or app.testing):
            raise SettingError("SECRET_KEY is not set: export SECRET_KEY=$(python -c 'import secrets; "
                               "print(secrets.token_hex(32))'), or run with --debug")
        app.config["SECRET_KEY"] = secrets.token_hex(32)  # debug/testing only: sessions end with the process
