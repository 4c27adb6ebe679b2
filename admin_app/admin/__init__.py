"""Build the Flask-Admin interface for one app (never at import time)."""
from __future__ import annotations

from datetime import datetime

from flask import Flask, g, url_for
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from ..extensions import db
from ..models import Bucketlist, Item, User
from ..timefmt import display_zone, format_local
from .activity_views import ActivityView, DashboardView
from .model_views import BucketlistView, ItemView, UserView
from .preferences import DisplaySettingsView
from .report_views import ReportsView


def init_admin(app: Flask) -> Admin:
    """Create this app's Admin with the dashboard, the activity feed, the reports and the model views."""
    admin = Admin(
        app,
        name="Bucketlist Admin",
        index_view=DashboardView(name="Dashboard", url="/admin"),
        theme=Bootstrap4Theme(base_template="admin/app_base.html", fluid=True),
        csp_nonce_generator=lambda: g.get("csp_nonce", ""),
    )
    admin.add_view(ActivityView(name="Activity", endpoint="activity", url="/admin/activity"))
    admin.add_view(ReportsView(name="Reports", endpoint="reports", url="/admin/reports"))
    admin.add_view(UserView(User, db, name="Users", endpoint="users"))
    admin.add_view(BucketlistView(Bucketlist, db, name="Bucketlists", endpoint="bucketlists"))
    admin.add_view(ItemView(Item, db, name="Items", endpoint="items"))
    admin.add_view(DisplaySettingsView(name="Display settings", endpoint="settings", url="/admin/settings"))
    # Feed model name -> endpoint of its admin view, for links from events to records.
    app.extensions["record_endpoints"] = {
        v.model.__name__.lower(): v.endpoint for v in admin._views if getattr(v, "model", None) is not None
    }
    register_template_helpers(app)
    return admin


def register_template_helpers(app: Flask) -> None:
    """Template helpers the admin pages use: the ``localtime`` filter, ``display_zone()`` and ``record_url()``."""

    @app.template_filter("localtime")
    def _localtime(value: datetime | None) -> str:
        return format_local(value)

    app.add_template_global(display_zone, "display_zone")  # the navbar and notes name the zone in effect

    @app.template_global()
    def record_url(model: str, pk: int) -> str | None:
        endpoint = app.extensions["record_endpoints"].get(model)
        return url_for(f"{endpoint}.details_view", id=pk) if endpoint else None
