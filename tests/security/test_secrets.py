"""Secrets: no page, export, lookup or feed shows a password hash, and no search or filter lets one probe it."""
from __future__ import annotations

from sqlalchemy import select

from admin_app.extensions import db
from admin_app.models import User
from tests.security.rows import OWNER_EMAIL, seed


def test_user_pages_never_show_a_password_hash(admin_client, admin_user, make_user):
    ids = seed(make_user, report=False).ids
    owner = db.session.get(User, ids["users"]["live"])
    assert owner is not None
    hashes = [owner.password_hash, admin_user.password_hash]
    assert all(len(h) > 20 for h in hashes)
    urls = ["/admin/users/", f"/admin/users/details/?id={owner.id}", "/admin/users/export/csv/",
            f"/admin/users/edit/?id={owner.id}", "/admin/users/new/",
            "/admin/bucketlists/ajax/lookup/?name=owner&query=o", "/admin/activity/feed.json",
            "/admin/activity/export.csv", "/admin/"]
    for url in urls:
        r = admin_client.get(url, buffered=True)
        assert r.status_code == 200, (url, r.status_code)
        body = r.get_data(as_text=True)
        for h in hashes:
            assert h not in body, url
            assert h.split("$")[-1] not in body, url  # not even the digest part
        assert "password_hash" not in body.lower(), url
        assert "password hash" not in body.lower(), url
    # the pages do show the user, so the search above looked at real content
    assert OWNER_EMAIL in admin_client.get("/admin/users/export/csv/", buffered=True).get_data(as_text=True)


def test_user_list_search_and_filters_cannot_probe_the_password_hash(admin_client, make_user):
    seed(make_user, report=False)
    owner_hash = db.session.scalar(select(User.password_hash).where(User.email == OWNER_EMAIL))
    assert owner_hash is not None
    r = admin_client.get(f"/admin/users/?search={owner_hash[:12]}")
    assert r.status_code == 200
    assert OWNER_EMAIL not in r.get_data(as_text=True)
