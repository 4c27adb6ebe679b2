"""Small factories for tests: rows with controlled timestamps and actors.

Users come from conftest's ``make_user`` fixture (through the app's own ``create_user``); the rows below are
written by ``actor`` (None: the system), each committed, as the admin's forms would.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, User
from flask_activity.audit import acting_as


def bucketlist(owner: User, title: str = "Travel", actor: User | None = None) -> Bucketlist:
    with acting_as(actor.id if actor else None):
        b = Bucketlist(title=title, owner=owner)
        db.session.add(b)
        db.session.commit()
    return b


def item(bl: Bucketlist, title: str = "See Kyoto", actor: User | None = None, **kw: Any) -> Item:
    with acting_as(actor.id if actor else None):
        it = Item(title=title, bucketlist=bl, **kw)
        db.session.add(it)
        db.session.commit()
    return it


def soft_delete(*rows: Any, actor: User | None = None) -> None:
    """Soft-delete ``rows`` (users, bucketlists, items) as ``actor`` in one commit."""
    with acting_as(actor.id if actor else None):
        for row in rows:
            row.soft_delete()
        db.session.commit()


def bulk_items(bl: Bucketlist, n: int, at: datetime, step: timedelta = timedelta(0), **kw: Any) -> None:
    """Insert n items created at ``at`` (minus i*step), in one executemany."""
    rows = [dict(title=f"item {i}", bucketlist_id=bl.id, done=False, created_at=at - step * i,
                 updated_at=at - step * i, **kw) for i in range(n)]
    db.session.execute(insert(Item), rows)
    db.session.commit()


def history_items(bl_id: int, n: int, base: datetime, step: timedelta, update_every: int, delete_every: int,
                  update_after: timedelta, delete_after: timedelta, actor_id: int | None = None,
                  per_step: int = 1) -> None:
    """n items, ``per_step`` of them every ``step``: every ``update_every``-th updated, every
    ``delete_every``-th soft-deleted (updated_at == deleted_at), in one executemany."""
    rows = []
    for i in range(n):
        created = base + step * (i // per_step)
        updated, deleted = created, None
        if i % update_every == 0:
            updated = created + update_after
        if i % delete_every == 0:
            deleted = updated = created + delete_after
        rows.append(dict(bucketlist_id=bl_id, title=f"Item {i}", done=False, created_at=created,
                         updated_at=updated, deleted_at=deleted, created_by_id=actor_id, updated_by_id=actor_id))
    db.session.execute(insert(Item), rows)
    db.session.commit()
