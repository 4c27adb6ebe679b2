"""``ActivityReporting``: the one object a host app creates, and ``init_app`` that adds the feed, reports, CLI
and hooks to that app (its state: state.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, url_for
from sqlalchemy.orm import configure_mappers

from .errors import ConfigError
from .specs import ModelSpec, audited_classes, build_specs
from .state import DEFAULTS, EXTENSION_KEY, ActivityState, UserCheck, default_can_administer, default_can_read, state


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
        from .admin.links import init_app as init_links
        from .metrics import init_metrics
        from .reporting.runner import recover_on_first_request

        init_links(app)
        init_metrics(app)
        recover_on_first_request(app)
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
        st.statements.clear()  # statements built from the old specs
        return st.specs

    @staticmethod
    def metadata() -> Any:
        """The extension's own tables (report runs, subscriptions, deliveries): give it to Alembic's
        ``target_metadata`` beside the app's own."""
        from .delivery.models import extension_metadata

        return extension_metadata()

    @classmethod
    def create_tables(cls) -> None:
        """Create the extension's own tables in the current app's database where they are missing; for apps
        without migrations (with Alembic, add them from ``flask activity doctor``'s migration instead)."""
        cls.metadata().create_all(state().db.engine)

    def register_report(self, definition: Any) -> Any:
        """Add a ReportDefinition to every app this extension serves (next to REPORT_MODULES); returns it."""
        self._reports.append(definition)
        return definition

    def index_definitions(self, app: Flask | None = None) -> list[Any]:
        """The ``Index`` objects the feed needs on the audited tables, bound to their tables so that Alembic's
        autogenerate sees them (call it in migrations/env.py before ``target_metadata`` is compared)."""
        from .indexes import index_definitions

        st = (app.extensions[EXTENSION_KEY] if app is not None else state())
        return index_definitions(st.specs.values())

    @staticmethod
    def _register_templates(app: Flask) -> None:
        bp = Blueprint("flask_activity", __name__, template_folder="templates", static_folder="static",
                       static_url_path="/activity-static")
        if "flask_activity" not in app.blueprints:
            app.register_blueprint(bp)
        register_template_helpers(app)

    @staticmethod
    def _add_views(admin: Any, dashboard: bool) -> None:
        from .admin.activity_views import ActivityView, DashboardView
        from .admin.report_views import ReportsView
        from .admin.subscription_views import SubscriptionsView

        admin.add_view(ActivityView(name="Activity", endpoint="activity", url="/admin/activity"))
        admin.add_view(ReportsView(name="Reports", endpoint="reports", url="/admin/reports"))
        admin.add_view(SubscriptionsView(name="Subscriptions", endpoint="subscriptions", url="/admin/subscriptions"))
        if dashboard and not isinstance(admin.index_view, DashboardView):
            admin.add_view(DashboardView(name="Dashboard", endpoint="activity_dashboard",
                                         url="/admin/activity/dashboard"))


def register_template_helpers(app: Flask) -> None:
    """The ``localtime`` filter, ``display_zone()`` and ``record_url()`` the extension's templates use."""
    from .timefmt import describe_cron, display_zone, format_local

    app.add_template_filter(format_local, "localtime")
    app.add_template_filter(describe_cron, "cron_words")
    app.add_template_global(display_zone, "display_zone")

    @app.template_global()
    def record_history(model: Any, pk: Any, limit: int = 20) -> tuple[str | None, list[Any]]:
        """(the feed's name of ``model``, the latest events of its row ``pk``), for a details page; (None, [])
        when the model is not audited."""
        from . import activity

        name = next((n for n, spec in state().specs.items() if spec.cls is model), None)
        key = activity.parse_id(pk)
        if name is None or key is None:
            return None, []
        return name, activity.fetch_page(activity.ActivityFilter(models=(name,), record_id=key), limit).events

    @app.template_global()
    def children_history(model: Any, pk: Any, limit: int = 20) -> list[Any]:
        """The latest events of the rows that point at ``model``'s row ``pk`` (a bucketlist's items)."""
        from . import activity

        name = next((n for n, spec in state().specs.items() if spec.cls is model), None)
        key = activity.parse_id(pk)
        if name is None or key is None:
            return []
        return activity.fetch_page(activity.ActivityFilter(parent=(name, key)), limit).events

    @app.template_global()
    def activity_unseen() -> int:
        """New events in the current user's in-app subscriptions (the navbar's count)."""
        from .admin.subscription_views import unseen_total

        return unseen_total()

    @app.template_global()
    def activity_paused() -> int:
        """The current user's paused subscriptions (the navbar warns)."""
        from .admin.subscription_views import paused_total

        return paused_total()

    @app.template_global()
    def person_url(actor_id: Any) -> str:
        """The page of the actor with this key; None: the system's page."""
        from .admin.people import person_url

        return person_url(actor_id)

    @app.template_global()
    def actor_recorded(model: str, action: str) -> bool:
        """Whether the model records who did ``action`` (else its events show "not recorded", never "system")."""
        spec = state().specs.get(model)
        return spec is not None and spec.actor(action) is not None

    from .state import model_label, model_labels

    app.add_template_filter(model_label, "model_label")
    app.add_template_global(model_labels, "model_labels")

    @app.template_global()
    def record_url(model: str, pk: int) -> str | None:
        endpoint = state().model_views().get(model, (None, None))[0]
        return url_for(f"{endpoint}.details_view", id=pk) if endpoint else None
