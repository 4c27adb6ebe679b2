"""The rows the security tests aim at, and what "nothing changed" means: snapshots of every table and report file."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, User
from flask_activity.delivery.digest import unsubscribe_token
from flask_activity.delivery.models import Delivery, ReportRecipients, Subscription
from flask_activity.delivery.subscriptions import SubscriptionInput, save
from flask_activity.reporting import runner
from flask_activity.reporting.models import ReportRun
from flask_activity.reporting.registry import get_report
from tests import factories

SECRET_ITEM = "Secret item title 7f3a"
SECRET_LIST = "Secret bucketlist 91c2"
OWNER_EMAIL = "owner.secret@example.com"
SECRETS = (SECRET_ITEM, SECRET_LIST, OWNER_EMAIL)
DAY = datetime(2026, 3, 2, tzinfo=UTC)


@dataclass
class Seeded:
    """Ids to aim requests at: per model view a live row (edited), a victim (deleted) and a deleted row."""

    ids: dict[str, dict[str, int]]
    run_id: int | None  # a succeeded report run whose file is in REPORTS_DIR
    subs: dict[str, int] = field(default_factory=dict)  # the owner's subscriptions: "live" (changed), "victim"
    unsubscribe: str = ""  # a valid one-click unsubscribe token of the live subscription


def seed(make_user: Any, report: bool = True) -> Seeded:
    """Rows every endpoint can act on, and (unless ``report`` is false) one downloadable report run."""
    owner = make_user(OWNER_EMAIL, "viewer")
    victim = make_user("victim.secret@example.com", "viewer")
    gone = make_user("gone.secret@example.com", "viewer")
    lists = [factories.bucketlist(owner, title) for title in (SECRET_LIST, "Victim list", "Deleted list")]
    items = [factories.item(lists[0], title) for title in (SECRET_ITEM, "Victim item", "Deleted item")]
    factories.soft_delete(gone, lists[2], items[2])
    ids = {name: {"live": rows[0].id, "victim": rows[1].id, "deleted": rows[2].id}
           for name, rows in (("users", (owner, victim, gone)), ("bucketlists", lists), ("items", items))}
    subs = {role: save(owner, SubscriptionInput(f"{role} watch", cadence="daily", email=False))[0].id
            for role in ("live", "victim")}
    token = unsubscribe_token(subs["live"], "email")
    if not report:
        return Seeded(ids=ids, run_id=None, subs=subs, unsubscribe=token)
    run = runner.run_report(get_report("items"), DAY, DAY + timedelta(days=1))
    assert run.status == "succeeded" and run.path, run.error
    return Seeded(ids=ids, run_id=run.id, subs=subs, unsubscribe=token)


def snapshot(app: Flask) -> dict[str, Any]:
    """Every committed row of every table, and every file under REPORTS_DIR with its SHA-256."""
    out: dict[str, Any] = {}
    with db.engine.connect() as conn:
        for model in (User, Bucketlist, Item, ReportRun, Subscription, Delivery, ReportRecipients):
            table = model.__table__
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
    root = Path(app.config["REPORTS_DIR"])
    out["files"] = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in sorted(root.rglob("*")) if p.is_file()} if root.exists() else {}
    return out


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """The parts of two snapshots (table names, "files") that differ."""
    return {key for key in before if before[key] != after[key]}


# Columns a user may change on their own row whatever their role (settings.display), and a value to set.
OWN_PREFERENCES = {"timezone": "Pacific/Auckland"}
# ... and, besides those, the number that ends their other sessions ("log out everywhere else", logout).
OWN_COLUMNS = {*OWN_PREFERENCES, "session_epoch"}


def own_subscriptions_only(before: dict[str, Any], after: dict[str, Any], user_id: int) -> bool:
    """True when the subscriptions table differs only by new rows that user ``user_id`` owns."""
    old, new = before["activity_subscriptions"], after["activity_subscriptions"]
    added = [r for r in new if r not in old]
    owner = [c.name for c in Subscription.__table__.columns].index("owner_key")
    return all(r in new for r in old) and all(r[owner] == str(user_id) for r in added)


def own_preference_only(before: dict[str, Any], after: dict[str, Any], user_id: int) -> bool:
    """True when the snapshots differ only in OWN_COLUMNS of user ``user_id``'s own row (and, when
    ``activity_subscriptions`` differs too, by subscriptions of their own: own_subscriptions_only)."""
    if "activity_subscriptions" in changed(before, after):
        if not own_subscriptions_only(before, after, user_id):
            return False
        before = {**before, "activity_subscriptions": after["activity_subscriptions"]}
    if changed(before, after) != {"users"}:
        return False
    keep = [i for i, c in enumerate(User.__table__.columns) if c.name not in OWN_COLUMNS]
    rows = {side: [tuple(r[i] for i in keep) for r in snap["users"]] for side, snap in (("b", before), ("a", after))}
    ids = [r[0] for r in before["users"]]
    differ = {ids[i] for i, (b, a) in enumerate(zip(before["users"], after["users"], strict=False)) if b != a}
    return rows["b"] == rows["a"] and differ == {user_id}
