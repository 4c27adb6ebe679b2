"""The help desk's data: agent accounts, tickets, their comments, and macros (canned replies).

Tickets and comments keep the naive UTC ``created``/``modified`` columns the app always had (and tickets their own
soft delete, ``archived_at``); one ``__activity__`` line each tells flask-activity which column means what
(``noqa: RUF012``: a plain class attribute the extension reads, never changed).
Macros came later and use the extension's audit mixin (times and actors, kept by column defaults).
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from flask_activity import audit_mixin

from .extensions import Model

#: A ticket's states, in the order a ticket usually goes through them.
STATUSES = ("open", "pending", "solved")
USERNAME_LENGTH = 50

if TYPE_CHECKING:  # a type checker cannot take a base class from a call: it reads what the mixin adds
    from flask_activity.audit import AuditColumns as AuditMixin
else:
    AuditMixin = audit_mixin(user_table="accounts", user_model="Account", key_type=Uuid)


def utcnow_naive() -> datetime:
    """Now in UTC without a zone, as the tickets and comments store their times (a callable default)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Account(UserMixin, Model):
    """A help-desk agent; admins also manage accounts and edit everything."""

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(USERNAME_LENGTH), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False, default="!")
    is_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def set_password(self, password: str, method: str = "scrypt") -> None:
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return self.password_hash != "!" and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login: a deactivated account cannot log in
        return bool(self.active)

    def __str__(self) -> str:
        return self.username


class Ticket(Model):
    """A customer's request, worked on by agents; archived (not deleted) when it is done with."""

    __tablename__ = "tickets"
    __activity__ = {"created_at": "created", "updated_at": "modified", "deleted_at": "archived_at", "label": "subject"}  # noqa: RUF012

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), nullable=False, index=True)
    created: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow_naive)
    modified: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow_naive, onupdate=utcnow_naive)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    requester: Mapped[Account] = relationship()
    comments: Mapped[list[Comment]] = relationship(back_populates="ticket")

    def archive(self) -> None:
        """The help desk's soft delete: the ticket leaves the queues but stays on record."""
        self.archived_at = utcnow_naive()

    def unarchive(self) -> None:
        self.archived_at = None

    def __str__(self) -> str:
        return f"#{self.id} {self.subject}"


class Comment(Model):
    """A reply or an internal note on a ticket, by the agent who wrote it."""

    __tablename__ = "comments"
    __activity__ = {"created_at": "created", "updated_at": "modified", "created_by": "author_id", "label": "body"}  # noqa: RUF012

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), nullable=False, index=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow_naive)
    modified: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=utcnow_naive, onupdate=utcnow_naive)

    ticket: Mapped[Ticket] = relationship(back_populates="comments")
    author: Mapped[Account | None] = relationship()

    def __str__(self) -> str:
        return self.body[:40]


class Macro(AuditMixin, Model):
    """A canned reply agents paste into comments."""

    __tablename__ = "macros"
    __label_column__ = "title"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")

    def __str__(self) -> str:
        return self.title
