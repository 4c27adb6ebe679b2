"""``ActivityReporting``: the one object a host app creates, and ``init_app`` that adds the feed, reports, CLI
and hooks to that app. Everything per app lives in ``app.extensions["flask_activity"]`` (an ActivityState)."""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, url_for
from sqlalchemy.orm import configure_mappers
from werkzeug.local import LocalProxy

from .errors import ConfigError
from .specs import ModelSpec, audited_classes, build_specs

EXTENSION_KEY = "flask_activity"

#: Settings the extension reads, with their defaults (a host's own value wins).
DEFAULTS: dict[str, Any] = {
    "APP_TIMEZONE": "UTC",
    "ACTIVITY_NAIVE_TIMEZONE": "UTC",  # the zone naive timestamp columns are in
    "EXPORT_CHUNK_SIZE": 1000,
    "DASHBOARD_COUNT_CAP": 1000,
    "DASHBOARD_CHART_TTL": 300,
    "REPORT_CHUNK_SIZE": 10_000,
    "REPORT_RUN_TIMEOUT": 6 * 3600,
    "REPORT_CATCH_UP": "run",
    "REPORTS_DATABASE_URL": None,
    "REPORT_STATEMENT_TIMEOUT": 0,
    "REPORT_MODULES": "",
    "METRICS_ENABLED": False,
    "METRICS_TOKEN": None,
    "PROMETHEUS_MULTIPROC_DIR": None,
}

UserCheck = Callable[[Any], bool]


def default_can_read(user: Any) -> bool:
    """Anyone logged in and active may read the activity feed and the reports."""
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def default_can_administer(user: Any) -> bool:
    """An active user whose ``is_admin`` is true, or whose ``role`` is "admin", may run reports."""
    if not default_can_read(user):
        return False
    flag = getattr(user, "is_admin", None)
    return bool(flag) if flag is not None else getattr(user, "role", None) == "admin"


@dataclass(eq=False)
class ActivityState:
    """One app's extension state: its database, user model, audited models, access checks and reports."""

    db: Any
    user_model: type
    person: str
    specs: dict[str, ModelSpec]
    can_read: UserCheck
    can_administer: UserCheck
    admin: Any = None
    registered_reports: list[Any] = field(default_factory=list)
    record_endpoints: dict[str, str] | None = None

    @property
    def person_column(self) -> Any:
        return getattr(self.user_model, self.person)

    @property
    def user_key(self) -> Any:
        return self.user_model.id  # type: ignore[attr-defined]

    @property
    def actor_field(self) -> str:
        """The name of the actor's person attribute in CSV columns and JSON (``actor_email``)."""
        return f"actor_{self.person}"

    def spec_for(self, cls: type) -> ModelSpec:
        """The spec of an audited model class; LookupError when the class is not audited."""
        for spec in self.specs.values():
            if spec.cls is cls:
                return spec
        raise LookupError(f"{cls.__name__} is not an audited model (give it __activity__ or the audit mixin)")

    def parse_actor_key(self, text: str) -> Any:
        """A user key typed as text, as the user model's key type; None when it cannot be one."""
        try:
            python_type = self.user_key.type.python_type
        except NotImplementedError:
            return None
        try:
            return python_type(text)
        except (TypeError, ValueError):
            return None


def state() -> ActivityState:
    """The current app's ActivityState; RuntimeError naming the fix when the extension was not set up."""
    found = current_app.extensions.get(EXTENSION_KEY)
    if found is None:
        raise RuntimeError("flask_activity is not set up on this app: call ActivityReporting().init_app(app, ...)")
    return found


class ActivityReporting:
    """The query-based activity feed and reports for one or more Flask apps.

    ``activity = ActivityReporting(); activity.init_app(app, db=db, admin=admin, user_model=User)``.
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        self._reports: list[Any] = []
        if app is not None:
            self.init_app(app, **options)

    def init_app(self, app: Flask, *, db: Any, user_model: type, admin: Any = None, person: str = "email",
                 can_read: UserCheck | None = None, can_administer: UserCheck | None = None,
                 dashboard: bool = True, cli: bool = True) -> ActivityState:
        """Add the feed, reports, dashboard, CLI and hooks to ``app``; ConfigError (one line) for a setting,
        model mapping or report module that cannot work.

        ``person``: the user attribute that names a person (email, username); ``can_read`` / ``can_administer``:
        ``f(user) -> bool`` (default: logged in and active; plus ``is_admin`` or ``role == "admin"``).
        """
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        if not app.config.get("REPORTS_DIR"):
            app.config["REPORTS_DIR"] = str(Path(app.instance_path) / "reports")
        if not hasattr(user_model, person):
            raise ConfigError(f"user model {user_model.__name__} has no attribute {person!r}: pass "
                              f"person= the attribute that names a user (email, username)")
        if not hasattr(user_model, "id"):
            raise ConfigError(f"user model {user_model.__name__} needs an 'id' primary key")
        st = ActivityState(db=db, user_model=user_model, person=person, specs={},
                           can_read=can_read or default_can_read,
                           can_administer=can_administer or default_can_administer, admin=admin,
                           registered_reports=self._reports)
        app.extensions[EXTENSION_KEY] = st
        with app.app_context():
            self.refresh_models(app)
            from .reporting.registry import load_reports

            load_reports()  # a REPORT_MODULES entry that does not import, or a bad report, fails here
        self._register_templates(app)
        if admin is not None:
            self._add_views(admin, dashboard)
        if cli:
            from .cli import init_app as init_cli

            init_cli(app)
        from .metrics import init_metrics

        init_metrics(app)
        return st

    def refresh_models(self, app: Flask | None = None) -> dict[str, ModelSpec]:
        """Read the audited models again (after defining more); returns feed name -> spec."""
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        st: ActivityState = app.extensions[EXTENSION_KEY]
        try:
            configure_mappers()
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several kinds; each is a model mistake
            raise ConfigError(f"the models do not configure: {str(exc).splitlines()[0]}") from None
        with app.app_context():
            dialect = st.db.engine.dialect.name
        st.specs = build_specs(audited_classes([st.db.Model]), default_zone=app.config["ACTIVITY_NAIVE_TIMEZONE"],
                               dialect=dialect)
        _clear_statement_caches()
        return st.specs

    @staticmethod
    def create_tables() -> None:
        """Create the extension's own table (report_runs) in the current app's database if it is missing; for apps
        without migrations (with Alembic, add it from ``flask activity doctor``'s migration instead)."""
        from .reporting.models import ActivityModel

        ActivityModel.metadata.create_all(state().db.engine)

    def register_report(self, definition: Any) -> Any:
        """Add a ReportDefinition to every app this extension serves (next to REPORT_MODULES); returns it."""
        self._reports.append(definition)
        return definition

    def index_definitions(self, app: Flask | None = None) -> list[Any]:
        """The SQLAlchemy ``Index`` objects the feed needs on the audited tables (for Alembic autogenerate)."""
        from .doctor import index_definitions

        st = (app.extensions[EXTENSION_KEY] if app is not None else state())
        return index_definitions(st.specs.values())

    @staticmethod
    def _register_templates(app: Flask) -> None:
        bp = Blueprint("flask_activity", __name__, template_folder="templates")
        if "flask_activity" not in app.blueprints:
            app.register_blueprint(bp)
        register_template_helpers(app)

    @staticmethod
    def _add_views(admin: Any, dashboard: bool) -> None:
        from .admin.activity_views import ActivityView, DashboardView
        from .admin.report_views import ReportsView

        admin.add_view(ActivityView(name="Activity", endpoint="activity", url="/admin/activity"))
        admin.add_view(ReportsView(name="Reports", endpoint="reports", url="/admin/reports"))
        if dashboard and not isinstance(admin.index_view, DashboardView):
            admin.add_view(DashboardView(name="Dashboard", endpoint="activity_dashboard",
                                         url="/admin/activity/dashboard"))


def _clear_statement_caches() -> None:
    from .activity import statements

    statements._page_select.cache_clear()
    statements._day_select.cache_clear()


def register_template_helpers(app: Flask) -> None:
    """The ``localtime`` filter, ``display_zone()`` and ``record_url()`` the extension's templates use."""
    from .timefmt import display_zone, format_local

    app.add_template_filter(format_local, "localtime")
    app.add_template_global(display_zone, "display_zone")

    @app.template_global()
    def actor_recorded(model: str, action: str) -> bool:
        """Whether the model records who did ``action`` (else its events show "not recorded", never "system")."""
        spec = state().specs.get(model)
        return spec is not None and spec.actor(action) is not None

    @app.template_global()
    def record_url(model: str, pk: int) -> str | None:
        st = state()
        if st.record_endpoints is None:  # read when first needed: the host adds its model views after init_app
            views = getattr(st.admin, "_views", [])
            st.record_endpoints = {name: v.endpoint for v in views for name, spec in st.specs.items()
                                   if getattr(v, "model", None) is spec.cls}
        endpoint = st.record_endpoints.get(model)
        return url_for(f"{endpoint}.details_view", id=pk) if endpoint else None


def load_modules(names: Iterable[str]) -> list[Any]:
    """Import each module named; ConfigError naming REPORT_MODULES for one that does not import."""
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise ConfigError(f"REPORT_MODULES: {name!r} does not import ({exc}); fix the name or remove it") \
                from None
    return modules


#: The current app's Flask-SQLAlchemy object (the one given to init_app): ``db.session``, ``db.engine``.
db: Any = LocalProxy(lambda: state().db)
