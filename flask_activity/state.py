"""The per-app state of the extension (``app.extensions["flask_activity"]``), how any module reaches it, and the
default access checks. The low level: every layer reads it; only ActivityReporting.init_app (extension.py) makes it."""
from __future__ import annotations

import functools
import importlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import current_app, has_app_context
from werkzeug.local import LocalProxy

from .errors import ConfigError
from .specs import ModelSpec

EXTENSION_KEY = "flask_activity"
T = TypeVar("T")

#: Settings the extension reads, with their defaults (a host's own value wins).
DEFAULTS: dict[str, Any] = {
    "APP_TIMEZONE": "UTC",
    "ACTIVITY_NAIVE_TIMEZONE": "UTC",  # the zone naive timestamp columns are in
    "EXPORT_CHUNK_SIZE": 1000,
    "DASHBOARD_COUNT_CAP": 1000,
    "DASHBOARD_CHART_TTL": 300,
    "DASHBOARD_COUNTS_REFRESH": 120,  # seconds between the scheduler's counts of the shared table; 0: none
    "DASHBOARD_LIVE_TTL": 5,  # seconds today's bar and the today / 7 days counts are reused by a process
    "REPORT_CHUNK_SIZE": 10_000,
    "REPORT_RUN_TIMEOUT": 6 * 3600,
    "REPORT_CATCH_UP": "run",
    "REPORT_RUN_NOW_WORKERS": 1,  # threads per web process running Run now's reports in the background
    "REPORT_RUN_NOW_QUEUE": 4,  # Run nows queued or running per web process before another is refused
    "REPORT_RUN_NOW_WAIT": 1.0,  # seconds Run now waits for the file, so a quick report's message links to it
    "REPORTS_DATABASE_URL": None,
    "REPORT_STATEMENT_TIMEOUT": 0,
    "REPORT_MODULES": "",
    "METRICS_ENABLED": False,
    "METRICS_TOKEN": None,
    "PROMETHEUS_MULTIPROC_DIR": None,
    # Deliveries (flask_activity.delivery): where links in emails point, how email and webhooks are sent.
    "ACTIVITY_BASE_URL": "http://127.0.0.1:5000",
    "SMTP_URL": None,  # smtp://host:25, smtp://user:password@host:587?starttls=1, smtps://host:465
    "MAIL_FROM": "activity@localhost",
    "SMTP_TIMEOUT": 10,
    "WEBHOOK_TIMEOUT": 10,
    "WEBHOOK_ALLOW_HTTP": False,
    "WEBHOOK_ALLOW_PRIVATE": False,
    "DELIVERY_MAX_ATTEMPTS": 5,
    "DELIVERY_RETRY_WINDOW": 300,  # seconds: retries of one delivery stop after this long
    "DELIVERY_RETRY_BASE": 2,  # seconds: the first retry's wait, doubling (with jitter) after
    "DELIVERY_PAUSE_AFTER": 5,  # failed deliveries in a row that pause a subscription
    "DELIVERY_SETTLE_SECONDS": 5,  # a period is delivered this long after it ends (late commits land first)
    "DIGEST_MAX_EVENTS": 200,
    "DIGEST_GZIP_OVER": 1_000_000,
    "REPORT_ATTACH_MAX_BYTES": 10_000_000,  # a larger report file is sent as a signed link instead
    "REPORT_LINK_MAX_AGE": 7 * 86400,  # seconds a report's signed download link works
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
    record_endpoints: dict[str, tuple[str, str]] | None = None  # feed name -> (admin endpoint, navbar name)
    statements: dict[str, Any] = field(default_factory=dict)  # built statements per shape (per_state_cache)

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

    def model_views(self) -> dict[str, tuple[str, str]]:
        """Feed name -> (endpoint, navbar name) of the admin view listing that model; read when first needed,
        since the host adds its model views after init_app."""
        if self.record_endpoints is None:
            views = getattr(self.admin, "_views", [])
            self.record_endpoints = {name: (v.endpoint, v.name) for v in views for name, spec in self.specs.items()
                                     if getattr(v, "model", None) is spec.cls}
        return self.record_endpoints

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


def per_state_cache(maxsize: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Keep what ``fn(st, *args)`` returns in ``st`` itself, per args, at most ``maxsize`` of them (oldest dropped).

    Like functools.lru_cache, but the cache lives and dies with the app's state: an lru_cache keyed on the state
    held every app that ever built a statement alive (and with it, for instance, its metrics' signal receivers).
    """
    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def cached(st: ActivityState, *args: Any, **kwargs: Any) -> T:
            entries: OrderedDict[Any, T] = st.statements.setdefault(fn.__qualname__, OrderedDict())
            key = (args, tuple(sorted(kwargs.items())))
            found = entries.get(key)
            if found is None:
                found = entries[key] = fn(st, *args, **kwargs)
                while len(entries) > maxsize:
                    entries.popitem(last=False)
            return found
        return cached
    return decorate


def model_labels() -> dict[str, str]:
    """Feed name -> how pages and emails name the model: its admin view's navbar name ("Items"); a model without a
    view keeps its feed name, capitalised. One convention for tables, filters, the chart and digests; CSV, JSON and
    URLs keep the feed names."""
    st = state()
    views = st.model_views()
    return {name: views[name][1] if name in views else name.capitalize() for name in st.specs}


def model_label(name: str) -> str:
    """The navbar's name of the model with this feed name (see model_labels); an unknown name, or any name outside
    an app, as given."""
    return model_labels().get(name, name) if has_app_context() else name


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
