"""Creating and finding users: plain functions the CLI, bootstrap and tests call."""
from __future__ import annotations

import re
import secrets

from flask import current_app
from sqlalchemy import func, select, update

from .extensions import db
from .models import ROLES, User
from .timefmt import parse_zone_choice

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


class AccountError(ValueError):
    """A user cannot be created as asked; the message says why."""


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(email: str, password: str, role: str = "viewer", display_name: str = "",
                timezone: str | None = None) -> User:
    """Create and commit a user; raise AccountError on a bad email, role, password, time zone or a duplicate.

    ``timezone``: the user's display zone (IANA name); None or "" means APP_TIMEZONE.
    """
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise AccountError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must have at least {MIN_PASSWORD} characters")
    # Longer text than the columns hold was a DataError (a traceback) on PostgreSQL; SQLite stored it anyway.
    columns = User.__table__.c
    if len(email) > columns.email.type.length:
        raise AccountError(f"an email address has at most {columns.email.type.length} characters")
    display_name = display_name or email.split("@")[0][:columns.display_name.type.length]
    if len(display_name) > columns.display_name.type.length:
        raise AccountError(f"a name has at most {columns.display_name.type.length} characters")
    try:
        zone = parse_zone_choice(timezone or "")
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    if find_user(email) is not None:
        raise AccountError(f"a user with email {email} already exists")
    user = User(email=email, role=role, display_name=display_name, timezone=zone)
    user.set_password(password, current_app.config["PASSWORD_METHOD"])
    db.session.add(user)
    db.session.commit()
    return user


def set_timezone(user_id: int, zone: str | None) -> None:
    """Store a user's own display zone (None: APP_TIMEZONE) and commit, leaving the audit columns as they are.

    A display preference is not audited data: the UPDATE sets updated_at and updated_by_id to themselves, so their
    onupdate defaults do not fire. Choosing a zone is then no "user updated" event in the activity feed and does
    not overwrite who last edited (or deleted) the account. ``zone`` must come from ``parse_zone_choice``.
    """
    users = User.__table__
    db.session.execute(update(users).where(users.c.id == user_id)
                       .values(timezone=zone, updated_at=users.c.updated_at, updated_by_id=users.c.updated_by_id))
    db.session.commit()


def random_password() -> str:
    return secrets.token_urlsafe(12)
