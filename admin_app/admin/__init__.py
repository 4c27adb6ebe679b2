"""Build the Flask-Admin interface for one app (never at import time): the extension's views, then ours."""
from __future__ import annotations

from flask import Flask, g
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from flask_activity import ActivityReporting, DashboardView

from ..extensions import db
from ..models import Bucketlist, Item, User
from .model_views import BucketlistView, ItemView, UserView
from .preferences import DisplaySettingsView

#: The reporting layer, as any app adopts it (public API only); one object serves every app create_app makes.
activity = ActivityReporting()


def init_admin(app: Flask) -> Admin:
    """Create this app's Admin: the extension's dashboard, feed and reports, then our model views and settings."""
    admin = Admin(
        app,
        name=app.config["APP_NAME"],
        index_view=DashboardView(name="Dashboard", url="/admin"),
        theme=Bootstrap4Theme(base_template="admin/app_base.html", fluid=True),
        csp_nonce_generator=lambda: g.get("csp_nonce", ""),
    )
    activity.init_app(app, db=db, admin=admin, user_model=User, person="email")
    admin.add_view(UserView(User, db, name="Users", endpoint="users"))
    admin.add_view(BucketlistView(Bucketlist, db, name="Bucketlists", endpoint="bucketlists"))
    admin.add_view(ItemView(Item, db, name="Items", endpoint="items"))
    admin.add_view(DisplaySettingsView(name="Display settings", endpoint="settings", url="/admin/settings"))
    return admin
