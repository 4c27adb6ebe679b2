"""`manage.py run`: serve the app with waitress, a production WSGI server."""
from __future__ import annotations

from typing import cast

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.local import LocalProxy

from flask_activity.cli.errors import db_errors


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@with_appcontext
@db_errors
def run_command(host: str, port: int, threads: int) -> None:
    """Serve the app with waitress (a production WSGI server)."""
    from waitress import serve  # only the server process needs it

    app = cast("LocalProxy[Flask]", current_app)._get_current_object()  # waitress's threads need the app itself
    click.echo(f"serving http://{host}:{port}/admin/ (Ctrl+C to stop)")
    serve(app, host=host, port=port, threads=threads, ident="admin-app")
