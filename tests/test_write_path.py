"""Saving a model fires no signal (the app's or any blinker signal about models) and writes no other row."""
from contextlib import contextmanager

import blinker
from sqlalchemy import func, select

from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, User
from flask_activity.audit import acting_as
from flask_activity.testing import record_signals
from tests import factories


@contextmanager
def record_every_signal():
    """Record every blinker send in the process (any namespace, including Flask's)."""
    sent = []
    original = blinker.Signal.send

    def spy(self, *args, **kwargs):
        sent.append(self.name)
        return original(self, *args, **kwargs)

    blinker.Signal.send = spy
    try:
        yield sent
    finally:
        blinker.Signal.send = original


def row_counts() -> dict[str, int]:
    return {m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in (User, Bucketlist, Item)}


def test_orm_create_update_delete_restore_fire_no_signal_and_write_no_other_row(app, admin_user):
    bl = factories.bucketlist(admin_user)
    before = row_counts()
    with record_every_signal() as sent, record_signals() as app_signals, acting_as(admin_user.id):
        it = Item(title="Sail", bucketlist=bl)
        db.session.add(it)
        db.session.commit()
        it.title = "Sail the Baltic"
        db.session.commit()
        it.soft_delete()
        db.session.commit()
        it.restore()
        db.session.commit()
    assert sent == [] and app_signals == []
    after = row_counts()
    assert after == {**before, "items": before["items"] + 1}


FLASK_SIGNALS = {"request-started", "request-finished", "request-tearing-down", "appcontext-tearing-down",
                 "appcontext-pushed", "appcontext-popped", "template-rendered", "before-render-template",
                 "message-flashed", "user_loaded_from_request", "user_loaded_from_cookie", "user-loaded-from-cookie",
                 "accessed", "session-protected", "session_protected"}


def test_admin_create_edit_delete_restore_fire_no_app_signal_and_write_no_other_row(app, admin_client, admin_user):
    """Through the admin, only Flask's own request/template signals may fire; none of the app's, none about models."""
    bl = factories.bucketlist(admin_user)
    before = row_counts()
    token = admin_client.csrf()
    with record_every_signal() as sent, record_signals() as app_signals:
        r = admin_client.post("/admin/items/new/", data={"title": "Made here", "bucketlist": str(bl.id),
                                                        "csrf_token": token})
        assert r.status_code == 302
        created = db.session.scalars(select(Item).where(Item.title == "Made here")).one()
        r = admin_client.post(f"/admin/items/edit/?id={created.id}", data={
            "title": "Edited", "bucketlist": str(bl.id), "csrf_token": token})
        assert r.status_code == 302
        r = admin_client.post("/admin/items/delete/", data={"id": str(created.id), "csrf_token": token})
        assert r.status_code == 302
        r = admin_client.post("/admin/items/action/", data={"action": "restore", "rowid": str(created.id),
                                                           "csrf_token": token})
        assert r.status_code == 302
    assert app_signals == []
    assert set(sent) <= FLASK_SIGNALS, set(sent) - FLASK_SIGNALS
    db.session.expire_all()
    assert row_counts() == {**before, "items": before["items"] + 1}
    restored = db.session.get(Item, created.id)
    assert restored.title == "Edited" and restored.deleted_at is None and restored.updated_by_id == admin_user.id
