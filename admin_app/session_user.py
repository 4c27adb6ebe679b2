"""The logged-in user as a request sees it: the few columns sessions and access checks read, in one Core query.

Loading the ORM ``User`` on every request cost 0.6 ms of a 2.1 ms ``feed.json`` (an identity map, a new object,
its attribute instrumentation); one precompiled row is about a fifth of that. The row is still read on every
request, so a session that was ended (its epoch moved on, the account deactivated or a role changed) is refused
at its very next request, in every process. Code that changes the user loads the ORM ``User`` by ``id``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_login import UserMixin
from sqlalchemy import bindparam, select

from .extensions import db
from .models import User

_users = User.__table__
#: Built once: the columns a request needs of its user (deleted_at only as "is it deleted").
_ROW = select(_users.c.id, _users.c.email, _users.c.display_name, _users.c.role, _users.c.active,
              _users.c.deleted_at.is_not(None).label("deleted"), _users.c.session_epoch, _users.c.timezone,
              ).where(_users.c.id == bindparam("user_id"))


@dataclass(frozen=True, eq=False)  # eq: UserMixin's, by get_id(), like the ORM User's
class SessionUser(UserMixin):
    """What ``current_user`` is after login: read-only, with the ORM ``User``'s names for what it carries."""

    id: int
    email: str
    display_name: str
    role: str
    active: bool
    deleted: bool
    session_epoch: int
    timezone: str | None

    @property
    def is_active(self) -> bool:  # the same rule as User.is_active: deactivated or deleted users are out
        return bool(self.active) and not self.deleted

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def __str__(self) -> str:
        return self.email


def load_session_user(user_id: int) -> SessionUser | None:
    """The user ``user_id`` names, or None if there is none, in the request's own transaction."""
    row: Any = db.session.connection().execute(_ROW, {"user_id": user_id}).first()
    return None if row is None else SessionUser(*row)
