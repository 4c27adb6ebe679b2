"""Creating and finding users: plain functions the CLI, bootstrap and tests call."""
from __future__ import annotations

import re
import secrets

from flask import current_app
from sqlalchemy import func, select

from .extensions import db
from .models import ROLES, User

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


class AccountError(ValueError):
    """A user cannot be created as asked; the message says why."""


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(email: str, password: str, role: str = "viewer", display_name: str = "") -> User:
    """Create and commit a user; raise AccountError on a bad email, role, password or a duplicate."""
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
    if find_user(email) is not None:
        raise AccountError(f"a user with email {email} already exists")
    user = User(email=email, role=role, display_name=display_name)
    user.set_password(password, current_app.config["PASSWORD_METHOD"])
    db.session.add(user)
    db.session.commit()
    return user


def random_password() -> str:
    return secrets.token_urlsafe(12)
