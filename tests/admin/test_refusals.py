"""A change the database refuses is a sentence on the page, never its SQL, parameters or a password hash; an admin
cannot delete their own account (admin_app/admin/refusals.py and the model views)."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import create_engine, event, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from admin_app.admin.refusals import refusal_message
from admin_app.extensions import db
from admin_app.models import User
from flask_activity.types import utcnow

LEAKS = ("INSERT", "UPDATE", "[SQL", "parameters", "scrypt", "pbkdf2", "psycopg", "sqlite3", "Integrity error")


def test_an_email_taken_by_a_racing_admin_is_named_and_nothing_leaks(admin_client, app):
    """Another admin's insert lands between this form's validation (Flask-Admin's Unique check passed) and its
    commit: the database's own unique constraint refuses it."""
    def racing_admin(session: Session, *_: object) -> None:
        if any(isinstance(o, User) and o.email == "twin@example.com" for o in session.new):
            with db.engine.connect() as other:
                now = utcnow()
                other.execute(insert(User), [{"email": "twin@example.com", "password_hash": "scrypt:secret-hash",
                                              "role": "viewer", "active": True, "created_at": now,
                                              "updated_at": now}])
                other.commit()

    event.listen(Session, "before_flush", racing_admin)
    try:
        r = admin_client.post_form("/admin/users/new/", {"email": "twin@example.com", "role": "viewer",
                                                         "active": "y", "new_password": "a-long-password-1"},
                                   follow_redirects=True)
    finally:
        event.remove(Session, "before_flush", racing_admin)
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 200
    assert "That email is already in use; nothing was saved." in page
    assert not [word for word in LEAKS if word in page], page[:3000]
    db.session.expire_all()
    assert db.session.scalar(select(User.password_hash).where(User.email == "twin@example.com")) \
        == "scrypt:secret-hash"  # the racing admin's row, untouched


def test_a_full_disk_is_said_as_such(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'small.db'}")
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE t (x BLOB)"))
        conn.commit()
        conn.execute(text("PRAGMA max_page_count = 3"))  # a real SQLITE_FULL, as on a full disk
        with pytest.raises(OperationalError) as info:
            conn.execute(text("INSERT INTO t VALUES (zeroblob(100000))"))
    engine.dispose()
    assert refusal_message(info.value) == "The disk is full; nothing was saved. Tell whoever runs the server."


def test_an_admin_cannot_delete_their_own_account_alone_or_in_a_bulk_delete(admin_client, admin_user, make_user):
    other = make_user("other-admin@example.com", "admin")
    r = admin_client.post_form("/admin/users/delete/", {"id": admin_user.id, "url": "/admin/users/"},
                               follow_redirects=True)
    assert "You cannot delete your own account" in html.unescape(r.get_data(as_text=True))
    r = admin_client.post_form("/admin/users/action/", {"action": "delete", "rowid": [admin_user.id, other.id],
                                                        "url": "/admin/users/"}, follow_redirects=True)
    page = html.unescape(r.get_data(as_text=True))
    assert "You cannot delete your own account" in page and "1 record(s) deleted." in page
    db.session.expire_all()
    assert db.session.get(User, admin_user.id).deleted_at is None
    assert db.session.get(User, other.id).deleted_at is not None
    assert admin_client.get("/admin/users/").status_code == 200  # still logged in, still an admin
