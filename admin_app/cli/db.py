"""`manage.py init-db`, and init_db(): create or upgrade the schema with the app's migrations."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from flask_activity.cli.errors import db_errors

from ..extensions import db


def init_db() -> None:
    """Create or upgrade the schema to the latest migration (tests and benchmarks call it directly)."""
    from flask_migrate import upgrade  # Alembic is only loaded by the commands that migrate

    upgrade(directory=current_app.extensions["migrate"].directory)


@click.command("init-db")
@with_appcontext
@db_errors
def init_db_command() -> None:
    """Create or upgrade the database schema (Alembic upgrade to head)."""
    init_db()
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")
