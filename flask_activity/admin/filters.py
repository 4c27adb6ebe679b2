"""Flask-Admin list filters that understand aware timestamps, actors and soft deletion."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_admin.contrib.sqla import filters as sqla_filters

from ..activity import SYSTEM_ACTOR, BadActivityQuery, resolve_actor
from ..activity.statements import row_has_event_by
from ..state import state
from ..timefmt import display_zone, parse_datetime


def _parse_range(value: str) -> list[datetime]:
    parts = value.split(" to ")
    if len(parts) != 2:
        raise ValueError("expected 'START to END'")
    start, end = (parse_datetime(p, display_zone()) for p in parts)
    if start > end:
        raise ValueError("start after end")
    return [start, end]


class AwareDateTimeBetweenFilter(sqla_filters.DateTimeBetweenFilter):
    """A between filter whose inputs are read in the display time zone."""

    def clean(self, value: str) -> list[datetime]:
        return _parse_range(value)

    def validate(self, value: str) -> bool:
        try:
            _parse_range(value)
        except ValueError:
            return False
        return True


class ActorFilter(sqla_filters.BaseSQLAFilter):
    """Rows with at least one feed event by one user (email or id), or by nobody ('system'): the rows whose
    events the activity feed shows for the same ``actor=``."""

    def __init__(self, model: Any, name: str = "Actor (email or 'system')") -> None:
        super().__init__(model.id, name)
        self.model = model

    def validate(self, value: str) -> bool:
        if value.strip().lower() == SYSTEM_ACTOR:
            return True
        try:
            resolve_actor(value.strip())
        except BadActivityQuery:
            return False
        return True

    def apply(self, query: Any, value: str, alias: Any = None) -> Any:
        text = value.strip()
        actor_id = None if text.lower() == SYSTEM_ACTOR else resolve_actor(text)
        return query.filter(row_has_event_by(state().spec_for(self.model), actor_id))

    def operation(self) -> str:
        return "is"


class DeletedFilter(sqla_filters.BaseSQLAFilter):
    """Tri-state soft-delete filter. Without it, lists hide deleted rows (see AuditedModelView)."""

    OPTIONS = (("hide", "hide deleted"), ("include", "include deleted"), ("only", "only deleted"))

    def __init__(self, model: Any, name: str = "Deleted") -> None:
        super().__init__(model.deleted_at, name, options=self.OPTIONS)
        self.model = model

    def validate(self, value: str) -> bool:
        return value in dict(self.OPTIONS)

    def apply(self, query: Any, value: str, alias: Any = None) -> Any:
        if value == "only":
            return query.filter(self.model.deleted_at.is_not(None))
        if value == "hide":
            return query.filter(self.model.deleted_at.is_(None))
        return query

    def operation(self) -> str:
        return "rows"


def timestamp_filters(model: Any) -> list[Any]:
    """Between filters for each audit timestamp, plus actor and deleted filters."""
    return [
        DeletedFilter(model),
        ActorFilter(model),
        AwareDateTimeBetweenFilter(model.created_at, "Created"),
        AwareDateTimeBetweenFilter(model.updated_at, "Updated"),
        AwareDateTimeBetweenFilter(model.deleted_at, "Deleted at"),
    ]


__all__ = ["ActorFilter", "AwareDateTimeBetweenFilter", "DeletedFilter", "timestamp_filters"]
