"""The `manage.py` commands: one module per command group, each a thin click wrapper over plain functions.

Adds the commands to an app in init_app(); importing this package registers nothing.
"""
from __future__ import annotations

from flask import Flask

from .bootstrap import bootstrap_command
from .db import init_db_command
from .demo import seed_demo_command
from .serve import run_command
from .users import create_user_command, set_password_command

__all__ = ["COMMANDS", "init_app"]

COMMANDS = (init_db_command, create_user_command, set_password_command, seed_demo_command, run_command,
            bootstrap_command)


def init_app(app: Flask) -> None:
    """Add our commands to ``app.cli`` (the extension adds `activity` and `report` in its init_app)."""
    for command in COMMANDS:
        app.cli.add_command(command)
