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
from typing import Any

from sqlalchemy.orm import Session

from ..specs import ACTIONS, ModelSpec
from ..state import state

ACTION_RANK: dict[str, int] = {a: i for i, a in enumerate(ACTIONS)}  # the order of actions at one instant
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
SYSTEM_ACTOR = "system"
MAX_ID = 2**31 - 1  # integer primary keys are 32-bit on PostgreSQL
#: The CSV columns of an event in an app whose users are named by email (event_columns() names the app's own).
EVENT_COLUMNS = ("at", "model", "id", "action", "actor_id", "actor_email", "label")


def event_columns() -> tuple[str, ...]:
    """The CSV columns of an event; the actor's is named for the user model's person attribute (actor_email)."""
    return ("at", "model", "id", "action", "actor_id", state().actor_field, "label")


class BadActivityQuery(ValueError):
    """Input that cannot form a feed query; the message says what to fix."""


@dataclass(frozen=True)
class Event:
    """One feed event: what happened to which row, when, by whom (None: the system)."""

    at: datetime
    model: str
    id: int
    action: str
    actor_id: Any  # the user's key (int or UUID); None: the system, or a model that records no actors
    actor_email: str | None  # the actor's person attribute (email, username)
    label: str | None

    @property
    def key(self) -> tuple[datetime, str, int, int]:
        """The feed's total order (newest first is this key, descending)."""
        return (self.at, self.model, self.id, ACTION_RANK[self.action])

    def to_json(self, person: str | None = None) -> dict[str, Any]:
        """The event as feed.json shows it; ``person`` is the user model's person attribute (``state().person``,
        looked up here when not given: a page of events passes it once)."""
        actor = None
        if self.actor_id is not None:
            key = self.actor_id if isinstance(self.actor_id, int) else str(self.actor_id)
            actor = {"id": key, (person or state().person): self.actor_email}
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
    """Which events: a half-open time window [since, until), models, actions, one actor or the system, and one
    record (``record_id``, with exactly one model)."""

    since: datetime | None = None
    until: datetime | None = None
    models: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    actor_id: Any = None  # the user's key (int or UUID)
    system_actor: bool = False  # only writes with no recorded user (CLI, system)
    record_id: int | None = None  # only this row's events (of the one model in ``models``)
    parent: tuple[str, int] | None = None  # only events of the rows whose foreign key names this (model, id)


@dataclass
class Page:
    """One page of events, newest first, and the cursor of the next (older) page if there is one."""

    events: list[Event]
    next_cursor: Cursor | None
    filters: ActivityFilter = field(default_factory=ActivityFilter)


def model_registry() -> dict[str, ModelSpec]:
    """Feed name -> spec of every audited model of the current app."""
    return state().specs


def model_notes() -> dict[str, str]:
    """Feed name -> what its columns cannot show ("this model records no deletions and no actors"), for the models
    that record less than the audit mixin does."""
    return {name: note for name, spec in model_registry().items() if (note := spec.note())}


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


def branches(flt: ActivityFilter) -> Iterator[tuple[str, ModelSpec, str]]:
    """(model name, spec, action) for every branch the filter selects, in registry then ACTIONS order.

    A model yields only the actions its columns record; an actor filter skips the actions it records no actor for.
    """
    registry = model_registry()
    parent_table = registry[flt.parent[0]].table_name if flt.parent and flt.parent[0] in registry else None
    for name, spec in registry.items():
        if flt.models and name not in flt.models:
            continue
        if flt.parent is not None and (parent_table is None or spec.parent_column(parent_table) is None):
            continue
        by_actor = flt.actor_id is not None or flt.system_actor
        for action in spec.actions:
            if (flt.actions and action not in flt.actions) or (by_actor and spec.actor(action) is None):
                continue
            yield name, spec, action


def session_or_default(session: Session | None) -> Session:
    """``session``, else the app's current one (Flask-SQLAlchemy's scoped session)."""
    return session if session is not None else state().db.session()
