"""Creating and finding users: plain functions the CLI, bootstrap and tests call."""
from __future__ import annotations

import re
import secrets

from flask import current_app
from sqlalchemy import select, update

from flask_activity.timefmt import parse_zone_choice

from .extensions import db
from .models import EMAIL_LENGTH, NAME_LENGTH, ROLES, User, email_is, normalize_email

#: The one rule for "looks like an email address", applied to the trimmed, lower-cased text (the user form too).
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: The shortest password anyone may set (create-user, set-password, the user form).
MIN_PASSWORD = 8


class AccountError(ValueError):
    """A user cannot be created as asked; the message says why."""


def find_user(email: str) -> User | None:
    """The user with this email (see models.email_is), or None."""
    return db.session.scalar(select(User).where(email_is(email)))


def check_password(password: str) -> None:
    """Raise AccountError unless ``password`` is one anyone may set (the one rule: at least MIN_PASSWORD characters)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must have at least {MIN_PASSWORD} characters")


def set_password(user: User, password: str) -> None:
    """Check ``password`` and store its hash (PASSWORD_METHOD) on ``user``, ending the user's sessions (a stolen
    cookie must not outlive the password it was logged in with); the caller commits. Raises AccountError."""
    check_password(password)
    user.set_password(password, current_app.config["PASSWORD_METHOD"])
    user.session_epoch = (user.session_epoch or 0) + 1


def create_user(email: str, password: str, role: str = "viewer", display_name: str = "",
                timezone: str | None = None) -> User:
    """Create and commit a user; raise AccountError on a bad email, role, password, time zone or a duplicate.

    ``timezone``: the user's display zone (IANA name); None or "" means APP_TIMEZONE.
    """
    email = normalize_email(email)
    if not EMAIL_PATTERN.match(email):
        raise AccountError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    check_password(password)
    # Longer text than the columns hold was a DataError (a traceback) on PostgreSQL; SQLite stored it anyway.
    if len(email) > EMAIL_LENGTH:
        raise AccountError(f"an email address has at most {EMAIL_LENGTH} characters")
    display_name = display_name or email.split("@")[0][:NAME_LENGTH]
    if len(display_name) > NAME_LENGTH:
        raise AccountError(f"a name has at most {NAME_LENGTH} characters")
    try:
        zone = parse_zone_choice(timezone or "")
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    if find_user(email) is not None:
        raise AccountError(f"a user with email {email} already exists")
    user = User(email=email, role=role, display_name=display_name, timezone=zone)
    set_password(user, password)
    db.session.add(user)
    db.session.commit()
    return user


def set_timezone(user_id: int, zone: str | None) -> None:
    """Store a user's own display zone (None: APP_TIMEZONE) and commit, leaving the audit columns as they are.

    A display preference is not audited data: the UPDATE sets updated_at and updated_by_id to themselves, so their
    onupdate defaults do not fire. Choosing a zone is then no "user updated" event in the activity feed and does
    not overwrite who last edited (or deleted) the account. ``zone`` must come from ``parse_zone_choice``.
    """
    users = User.metadata.tables[User.__tablename__]  # the Core table: no ORM bookkeeping for a preference
    db.session.execute(update(users).where(users.c.id == user_id)
                       .values(timezone=zone, updated_at=users.c.updated_at, updated_by_id=users.c.updated_by_id))
    db.session.commit()


def end_sessions(user_id: int) -> int:
    """End every session of the user (each is refused at its next request) and commit; returns the new epoch.

    Like set_timezone, the UPDATE leaves the audit columns as they are: logging out is no "user updated" event.
    """
    users = User.metadata.tables[User.__tablename__]
    epoch = db.session.scalar(update(users).where(users.c.id == user_id)
                              .values(session_epoch=users.c.session_epoch + 1, updated_at=users.c.updated_at,
                                      updated_by_id=users.c.updated_by_id)
                              .returning(users.c.session_epoch))
    db.session.commit()
    return int(epoch or 0)


def random_password() -> str:
    """A new random password (bootstrap's first admin), about 16 URL-safe characters."""
    return secrets.token_urlsafe(12)
