"""What the feed is made of: events, cursors, filters, pages, the actions and the audited models they come from.

Each audited model yields three event kinds:

* ``created`` at ``created_at`` by ``created_by``;
* ``updated`` at ``updated_at`` by ``updated_by`` when the row changed after creation
  and that change was not its deletion (``updated_at > created_at`` and not equal to
  ``deleted_at``);
* ``deleted`` at ``deleted_at`` by ``updated_by``.

Columns hold the *last* update of each row, not every intermediate change; the feed
says exactly what the columns can say.

Order is total and stable: time, then model, then id, then action, newest first.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeGuard

from sqlalchemy.orm import InstrumentedAttribute, QueryableAttribute, Session

from ..audit import audited_models
from ..extensions import db

ACTIONS: tuple[str, ...] = ("created", "updated", "deleted")
ACTION_RANK: dict[str, int] = {a: i for i, a in enumerate(ACTIONS)}  # the order of actions at one instant
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
SYSTEM_ACTOR = "system"
MAX_ID = 2**31 - 1  # integer primary keys are 32-bit on PostgreSQL
EVENT_COLUMNS = ("at", "model", "id", "action", "actor_id", "actor_email", "label")


class BadActivityQuery(ValueError):
    """Input that cannot form a feed query; the message says what to fix."""


class AuditedModel(Protocol):
    """What the query layer reads of an audited model class (a mapped class using the audit mixin): the audit
    columns, the integer ``id`` key each model declares itself (the mixin cannot) and its label column's name."""

    __label_column__: str
    id: ClassVar[InstrumentedAttribute[int]]
    created_at: ClassVar[InstrumentedAttribute[datetime]]
    updated_at: ClassVar[InstrumentedAttribute[datetime]]
    deleted_at: ClassVar[InstrumentedAttribute[datetime | None]]
    created_by_id: ClassVar[InstrumentedAttribute[int | None]]
    updated_by_id: ClassVar[InstrumentedAttribute[int | None]]


@dataclass(frozen=True)
class Event:
    """One feed event: what happened to which row, when, by whom (None: the system)."""

    at: datetime
    model: str
    id: int
    action: str
    actor_id: int | None
    actor_email: str | None
    label: str | None

    @property
    def key(self) -> tuple[datetime, str, int, int]:
        """The feed's total order (newest first is this key, descending)."""
        return (self.at, self.model, self.id, ACTION_RANK[self.action])

    def to_json(self) -> dict[str, Any]:
        actor = {"id": self.actor_id, "email": self.actor_email} if self.actor_id is not None else None
        return {
            "at": self.at.isoformat(),
            "model": self.model,
            "id": self.id,
            "action": self.action,
            "actor": actor,
            "label": self.label,
        }


@dataclass(frozen=True)
class Cursor:
    """Position after which the next (older) page starts."""

    at: datetime
    model: str
    id: int
    action: str


@dataclass(frozen=True)
class ActivityFilter:
    """Which events: a half-open time window [since, until), models, actions, one actor or the system."""

    since: datetime | None = None
    until: datetime | None = None
    models: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    actor_id: int | None = None
    system_actor: bool = False  # only writes with no recorded user (CLI, system)


@dataclass
class Page:
    """One page of events, newest first, and the cursor of the next (older) page if there is one."""

    events: list[Event]
    next_cursor: Cursor | None
    filters: ActivityFilter = field(default_factory=ActivityFilter)


def _keyed(cls: type) -> TypeGuard[type[AuditedModel]]:
    return isinstance(getattr(cls, "id", None), QueryableAttribute)


def model_registry() -> dict[str, type[AuditedModel]]:
    """Feed name -> model class for every model that uses the audit mixin."""
    registry: dict[str, type[AuditedModel]] = {}
    for cls in audited_models():
        if not _keyed(cls):
            raise TypeError(f"{cls.__name__} uses the audit mixin but has no mapped integer 'id' column")
        registry[cls.__name__.lower()] = cls
    return registry


def check_models(models: Iterable[str]) -> None:
    """Raise BadActivityQuery naming the first model name the feed does not know."""
    names = sorted(model_registry())
    unknown = [m for m in models if m not in names]
    if unknown:
        raise BadActivityQuery(f"unknown model {unknown[0]!r}; choose from {', '.join(names)}")


def check_actions(actions: Iterable[str]) -> None:
    """Raise BadActivityQuery naming the first action that is not one of ACTIONS."""
    bad = [a for a in actions if a not in ACTIONS]
    if bad:
        raise BadActivityQuery(f"unknown action {bad[0]!r}; choose from {', '.join(ACTIONS)}")


def branches(flt: ActivityFilter) -> Iterator[tuple[str, type[AuditedModel], str]]:
    """(model name, model class, action) for every branch the filter selects, in registry then ACTIONS order."""
    for name, cls in model_registry().items():
        if flt.models and name not in flt.models:
            continue
        for action in ACTIONS:
            if flt.actions and action not in flt.actions:
                continue
            yield name, cls, action


def session_or_default(session: Session | None) -> Session:
    """``session``, else the app's current one (Flask-SQLAlchemy's scoped session)."""
    return session if session is not None else db.session()
