"""The audit mixin: who and when, kept on the row itself.

There is no audit-log table and no signal on the write path. Timestamps and
actors are column defaults evaluated at flush (and at bulk UPDATE), so the
recent-activity feed can be derived with a query. A ``version`` column makes every ORM write conditional on the
copy it was based on.

``audit_mixin()`` makes the mixin for a host's own user model: its table, its class name and its key type
(integer or UUID). ``AuditMixin`` is the mixin for a ``users`` table with integer keys.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from flask import has_request_context
from flask_login import current_user
from sqlalchemy import ForeignKey, Index, Integer, Uuid
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from .indexes import feed_indexes
from .types import UTCDateTime, utcnow

_actor_id: ContextVar[Any] = ContextVar("audit_actor_id", default=None)

#: The ``__activity__`` mapping of every model using a mixin made here: every column, exact times.
MIXIN_COLUMNS: dict[str, Any] = {"created_at": "created_at", "updated_at": "updated_at", "deleted_at": "deleted_at",
                                 "created_by": "created_by_id", "updated_by": "updated_by_id", "_exact": True}


def _actor_reader(convert: Callable[[str], Any]) -> Callable[[], Any]:
    def current_actor() -> Any:
        """The user key to record for a write: an explicit actor, else the logged-in user, else None (system)."""
        explicit = _actor_id.get()
        if explicit is not None:
            return explicit
        if has_request_context() and getattr(current_user, "is_authenticated", False):
            return convert(current_user.get_id())
        return None
    return current_actor


current_actor_id = _actor_reader(int)


@contextmanager
def acting_as(user_id: Any) -> Iterator[None]:
    """Attribute writes inside the block to ``user_id`` (the CLI's ``--as EMAIL``)."""
    token = _actor_id.set(user_id)
    try:
        yield
    finally:
        _actor_id.reset(token)


def _same_as_created(context: Any) -> datetime:
    """A new row's updated_at is its created_at, so it does not look changed after creation."""
    created = context.get_current_parameters().get("created_at")
    return created if created is not None else utcnow()


class AuditColumns:
    """What every mixin made by audit_mixin() adds, for type checkers (which cannot take a base class from a call):

        if TYPE_CHECKING:
            from flask_activity.audit import AuditColumns as AuditMixin
        else:
            AuditMixin = audit_mixin(user_table="accounts", user_model="Account", key_type=Uuid)
    """

    if TYPE_CHECKING:
        __activity__: ClassVar[dict[str, Any]]
        __label_column__: str
        __tablename__: str
        created_at: Mapped[datetime]
        updated_at: Mapped[datetime]
        deleted_at: Mapped[datetime | None]
        created_by_id: Mapped[Any]
        updated_by_id: Mapped[Any]
        version: Mapped[int]

        def soft_delete(self) -> None: ...

        def restore(self) -> None: ...


def audit_mixin(user_table: str = "users", user_model: str = "User", key_type: type[TypeEngine[Any]] | TypeEngine[Any]
                = Integer, user_key: str = "id") -> type[AuditColumns]:
    """A mixin class adding created/updated/deleted timestamps and actors that point at the host's user table.

    ``key_type``: the user key's column type (``Integer`` or ``Uuid``); the logged-in user's ``get_id()`` is read
    as that type. Any mapped model using the mixin appears in the feed.
    """
    key = key_type() if isinstance(key_type, type) else key_type
    convert: Callable[[str], Any] = uuid.UUID if isinstance(key, Uuid) else int
    actor = current_actor_id if convert is int else _actor_reader(convert)
    target = f"{user_table}.{user_key}"

    class _AuditMixin(AuditColumns):
        """Adds created/updated/deleted timestamps and actors; any model using it appears in the feed."""

        __activity__: ClassVar[dict[str, Any]] = MIXIN_COLUMNS
        #: Column whose value labels a row in the feed; override per model.
        __label_column__: str = "id"
        if TYPE_CHECKING:
            __tablename__: str  # every model using the mixin names its table

        created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
        updated_at: Mapped[datetime] = mapped_column(
            UTCDateTime(), default=_same_as_created, onupdate=utcnow, nullable=False
        )
        deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
        created_by_id: Mapped[Any] = mapped_column(
            key, ForeignKey(target, ondelete="SET NULL"), default=actor, nullable=True
        )
        updated_by_id: Mapped[Any] = mapped_column(
            key, ForeignKey(target, ondelete="SET NULL"), default=actor, onupdate=actor, nullable=True,
        )
        # SQLAlchemy's own optimistic concurrency: every ORM UPDATE says "WHERE id = :id AND version = :read" and
        # sets version + 1, so a write based on a copy someone else has changed (an edit racing a delete, two
        # admins saving one form) matches no row and raises StaleDataError: the statement refuses it, not a read.
        version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

        @declared_attr.directive
        def __mapper_args__(cls) -> dict[str, Any]:
            # Declarative swaps the mixin's column for the model's own copy. A model defining its own
            # __mapper_args__ must carry this key itself.
            return {"version_id_col": cls.version}

        # Read-only: the ids come from column defaults, so the unit of work need not track two more
        # relationships on every save (about a tenth of the write path's time; bench/hooks.py).
        @declared_attr
        def created_by(cls) -> Mapped[Any]:
            return relationship(user_model, foreign_keys=f"{cls.__name__}.created_by_id",  # type: ignore[attr-defined]
                                remote_side=f"{user_model}.{user_key}", viewonly=True)

        @declared_attr
        def updated_by(cls) -> Mapped[Any]:
            return relationship(user_model, foreign_keys=f"{cls.__name__}.updated_by_id",  # type: ignore[attr-defined]
                                remote_side=f"{user_model}.{user_key}", viewonly=True)

        @declared_attr.directive
        def __table_args__(cls) -> tuple[Index, ...]:
            return mixin_indexes(cls.__tablename__)

        def soft_delete(self) -> None:
            """Mark deleted; updated_at equals deleted_at so the feed shows one 'deleted' event."""
            now = utcnow()
            self.deleted_at = now
            self.updated_at = now
            self.updated_by_id = actor()

        def restore(self) -> None:
            """Undo a soft delete; the feed then shows an 'updated' event by the restorer."""
            self.deleted_at = None
            self.updated_at = utcnow()
            self.updated_by_id = actor()

    _AuditMixin.__name__ = _AuditMixin.__qualname__ = "AuditMixin"
    return _AuditMixin


def mixin_indexes(t: str) -> tuple[Index, ...]:
    """The feed's indexes on a mixin table (the rule is flask_activity.indexes'): (timestamp, id) so each feed branch
    is one ordered index range scan, and (actor, timestamp, id) so an actor-filtered branch is one too.

    The updated and deleted ones are partial, on the feed branch's own condition: an insert (updated_at ==
    created_at, deleted_at NULL) maintains neither, and they hold only the rows those branches read. (A plain actor
    index made PostgreSQL sort every row of the actor: 108 ms at 5M items; without the deleted actor index the
    deleted branch walked every deleted row: 7 ms at 100k items.)
    """
    return tuple(need.index() for need in feed_indexes(t, MIXIN_COLUMNS, exact=True))


#: The mixin for a ``users`` table with integer keys and a ``User`` class (the bucketlist app's).
if TYPE_CHECKING:
    AuditMixin = AuditColumns
else:
    AuditMixin = audit_mixin()

