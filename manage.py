#!/usr/bin/env python
"""Command-line entry point: python manage.py --help."""
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from admin_app import ConfigError, create_app


def _create_app() -> Flask:
    """The app from the environment; a configuration mistake is one line and exit status 2, not a traceback."""
    try:
        return create_app()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


cli = FlaskGroup(create_app=_create_app, add_default_commands=False, load_dotenv=False,
                 help="Admin reporting app: set up the database, manage users, seed demo data, query activity, serve.")

if __name__ == "__main__":
    cli()
