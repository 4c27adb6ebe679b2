"""Everything the help desk does to adopt flask-activity, besides marking its models (models.py: one
``__activity__`` line on Ticket and on Comment; Macro uses the extension's audit mixin).

18 lines: the lines of this file that are neither blank nor comments, this docstring included.
"""
from __future__ import annotations

from typing import Any

from flask import Flask

from flask_activity import ActivityReporting

from .auth import is_admin, is_agent
from .models import Account
from .reports import REPORTS

activity = ActivityReporting()
for definition in REPORTS:  # once, here: init_activity runs for every app the factory makes
    activity.register_report(definition)


def init_activity(app: Flask, db: Any, admin: Any) -> None:
    """Add the feed, the dashboard, the reports and the ``flask activity`` / ``flask report`` commands."""
    activity.init_app(app, db=db, admin=admin, user_model=Account, person="username",
                      can_read=is_agent, can_administer=is_admin)
