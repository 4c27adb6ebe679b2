"""The sample domain: users, their bucketlists and the items on them."""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from flask_activity import audit_mixin

from .extensions import Model

#: Every role a user may have: admins change data, viewers only read.
ROLES = ("admin", "viewer")
#: Longest email address and display name the users table holds.
EMAIL_LENGTH = 255
NAME_LENGTH = 120

#: Audit columns whose actors point at ``users.id`` (User): the extension's mixin, made for this app's user model.
if TYPE_CHECKING:  # a type checker cannot take a base class from a call: it reads what the mixin adds
    from flask_activity.audit import AuditColumns as AuditMixin
else:
    AuditMixin = audit_mixin(user_table="users", user_model="User")


class User(AuditMixin, UserMixin, Model):
    __tablename__ = "users"
    __label_column__ = "email"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="viewer")
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False, default="!")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Carried by every session of the user; bumping it (accounts.end_sessions) ends them all at their next request.
    session_epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # The user's own display zone (IANA name); NULL: APP_TIMEZONE. A preference, set without auditing
    # (accounts.set_timezone), so it is no "user updated" event.
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)

    bucketlists: Mapped[list[Bucketlist]] = relationship(
        back_populates="owner", foreign_keys="Bucketlist.owner_id"
    )

    def set_password(self, password: str, method: str = "scrypt") -> None:
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return self.password_hash != "!" and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated or deleted users cannot log in
        return bool(self.active) and self.deleted_at is None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def __str__(self) -> str:
        return self.email


def normalize_email(email: str) -> str:
    """An email as it is stored and looked up: without surrounding spaces, in lower case."""
    return email.strip().lower()


def email_is(email: str) -> ColumnElement[bool]:
    """The one rule for finding a user by email: letter case and surrounding spaces do not matter."""
    return func.lower(User.email) == normalize_email(email)


class Bucketlist(AuditMixin, Model):
    __tablename__ = "bucketlists"
    __label_column__ = "title"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)

    owner: Mapped[User] = relationship(back_populates="bucketlists", foreign_keys=[owner_id])
    items: Mapped[list[Item]] = relationship(back_populates="bucketlist")

    def __str__(self) -> str:
        return self.title


class Item(AuditMixin, Model):
    __tablename__ = "items"
    __label_column__ = "title"

    id: Mapped[int] = mapped_column(primary_key=True)
    bucketlist_id: Mapped[int] = mapped_column(ForeignKey("bucketlists.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    done: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)

    bucketlist: Mapped[Bucketlist] = relationship(back_populates="items")

    def __str__(self) -> str:
        return self.title
