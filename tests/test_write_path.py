"""Saving a model fires no signal and writes no row other than the one saved."""
from contextlib import contextmanager

import blinker
from sqlalchemy import func, select

from admin_app.audit import acting_as
from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, User
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
    with record_every_signal() as sent, acting_as(admin_user.id):
        it = Item(title="Sail", bucketlist=bl)
        db.session.add(it)
        db.session.commit()
        it.title = "Sail the Baltic"
        db.session.commit()
        it.soft_delete()
        db.session.commit()
        it.restore()
        db.session.commit()
    assert sent == []
    after = row_counts()
    assert after == {**before, "items": before["items"] + 1}


def test_admin_edit_fires_no_model_signal(app, admin_client):
    """Through the admin, only Flask's own request/template signals may fire; nothing about models."""
    bl = factories.bucketlist(db.session.get(User, 1) or db.session.scalars(select(User)).first())
    it = factories.item(bl)
    before = row_counts()
    token = admin_client.csrf()
    with record_every_signal() as sent:
        r = admin_client.post(f"/admin/items/edit/?id={it.id}", data={
            "title": "Edited", "bucketlist": str(bl.id), "csrf_token": token})
        assert r.status_code == 302
        r = admin_client.post("/admin/items/delete/", data={"id": str(it.id), "csrf_token": token})
        assert r.status_code == 302
    flask_signals = {"request-started", "request-finished", "request-tearing-down", "appcontext-tearing-down",
                     "appcontext-pushed", "appcontext-popped", "template-rendered", "before-render-template",
                     "message-flashed", "user_loaded_from_request", "user_loaded_from_cookie", "user-loaded-from-cookie",
                     "accessed", "session-protected", "session_protected"}
    assert set(sent) <= flask_signals, set(sent) - flask_signals
    db.session.expire_all()
    assert row_counts() == before
    assert db.session.get(Item, it.id).deleted_at is not None
