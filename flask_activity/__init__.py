"""flask-activity: a query-based recent-activity feed, exports and scheduled CSV reports for Flask + SQLAlchemy +
Flask-Admin apps, computed from timestamp columns (no audit-log table, nothing on the write path).

    activity = ActivityReporting()
    activity.init_app(app, db=db, admin=admin, user_model=User)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .audit import AuditMixin, acting_as, audit_mixin, mixin_indexes
from .errors import ConfigError
from .extension import ActivityReporting
from .indexes import index_definitions
from .reporting.definition import Param, ReportDefinition, RunContext
from .specs import ModelSpec
from .state import ActivityState, default_can_administer, default_can_read, state

__version__ = "0.15.0"

__all__ = ["ActivityReporting", "ActivityState", "AuditMixin", "ConfigError", "DashboardView", "GuardedWrites",
           "ModelSpec", "Param", "ReportDefinition", "RunContext", "__version__", "acting_as", "audit_mixin",
           "default_can_administer", "default_can_read", "index_definitions", "mixin_indexes", "state"]

if TYPE_CHECKING:
    from .admin.activity_views import DashboardView
    from .admin.guarded import GuardedWrites


def __getattr__(name: str) -> Any:
    """``DashboardView`` and ``GuardedWrites`` on first use: importing the package loads no Flask-Admin view."""
    if name == "DashboardView":
        from .admin.activity_views import DashboardView

        return DashboardView
    if name == "GuardedWrites":
        from .admin.guarded import GuardedWrites

        return GuardedWrites
    raise AttributeError(name)
