"""Subscriptions and events on a simulated clock: each event is written with its own time, each tick is given its
``now``, so windows and cursors are exact without waiting for real minutes."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from admin_app.extensions import db
from admin_app.models import Bucketlist, Item
from flask_activity.delivery.models import Delivery, Subscription
from flask_activity.delivery.subscriptions import SubscriptionInput, save

_ITEM = re.compile(r"Items #(\d+)")  # models named as the navbar names them


def subscribe(owner: Any, **given: Any) -> tuple[Subscription, str | None]:
    """A subscription of ``owner``: every minute, by email, unless told otherwise."""
    values: dict[str, Any] = {"name": "Items watch", "cadence": "live", "email": True, "in_app": False}
    values.update(given)
    return save(owner, SubscriptionInput(**values))


def minute_after(when: datetime, n: int = 1) -> datetime:
    """The n-th minute boundary after ``when`` (the fire times of the 'live' cadence)."""
    return when.replace(second=0, microsecond=0) + timedelta(minutes=n)


def items_at(bucketlist: Bucketlist, when: datetime, n: int, title: str = "event") -> list[int]:
    """``n`` items created at ``when`` (+ n microseconds each): their ids."""
    rows = [Item(bucketlist_id=bucketlist.id, title=f"{title} {i}", created_at=when + timedelta(microseconds=i),
                 updated_at=when + timedelta(microseconds=i)) for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def item_ids(message: EmailMessage) -> list[int]:
    """The item ids a digest email's text part lists."""
    body = message.get_body(("plain",))
    assert body is not None
    return [int(i) for i in _ITEM.findall(body.get_content())]


def deliveries(sub: Subscription) -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Delivery).where(Delivery.subscription_id == sub.id)
                                   .order_by(Delivery.id)))
