"""A session can be ended: logout, a password or role change, deactivation and "log out everywhere else" end the
sessions they should (a copied cookie included); a session lasts SESSION_MAX_AGE from login however much it is
used, ends after SESSION_IDLE_TIMEOUT without a request, and only works from the browser that logged in."""
from __future__ import annotations

import time

import pytest
from flask import Flask

from admin_app.accounts import set_password
from admin_app.auth import LOGIN_AT, SEEN_AT
from admin_app.extensions import db
from admin_app.models import Bucketlist, User
from tests.conftest import Client, logged_in
from tests.security.clients import is_logged_in


def replay(app: Flask, captured: Client, agent: str | None = None) -> Client:
    """Another client sending a copy of ``captured``'s session cookie (a stolen cookie), with the same
    User-Agent unless told otherwise."""
    thief: Client = app.test_client()  # type: ignore[assignment]
    cookie = captured.get_cookie("session")
    assert cookie is not None
    thief.set_cookie("session", cookie.value)
    if agent is not None:
        thief.environ_base["HTTP_USER_AGENT"] = agent
    return thief


def writes(client: Client, user: User) -> bool:
    """Whether a POST through the admin (creating a bucketlist) goes in; the CSRF token rides in the same cookie."""
    with client.session_transaction() as sess:
        token_source = sess.get("csrf_token")
    before = db.session.query(Bucketlist).count()
    if token_source is None:
        return False
    from flask_wtf.csrf import generate_csrf

    with client.application.test_request_context():
        from flask import session

        session["csrf_token"] = token_source
        token = generate_csrf()
    client.post("/admin/bucketlists/new/", data={"title": "Written with a stolen cookie", "owner": str(user.id),
                                                 "csrf_token": token})
    db.session.expire_all()
    return db.session.query(Bucketlist).count() > before


def test_a_cookie_copied_before_logout_neither_reads_nor_writes_after_it(app, admin_user):
    browser = logged_in(app, admin_user)
    stolen = replay(app, browser)
    assert is_logged_in(stolen) and writes(stolen, admin_user)  # the control: the copy works before logout
    browser.post_form("/logout")
    assert not is_logged_in(stolen)
    assert not writes(replay(app, browser), admin_user)
    assert stolen.get("/admin/activity/feed.json").status_code == 302


def test_a_password_change_ends_the_accounts_sessions(app, admin_user, make_user):
    viewer = make_user("changes@example.com")
    theirs = logged_in(app, viewer)
    set_password(viewer, "a-brand-new-password-9")  # as `manage.py set-password` does
    db.session.commit()
    assert not is_logged_in(theirs)

    again: Client = app.test_client()  # type: ignore[assignment]  # and by an admin, through the Users view
    assert again.login(viewer.email, "a-brand-new-password-9").status_code == 302
    admin = logged_in(app, admin_user)
    r = admin.post_form(f"/admin/users/edit/?id={viewer.id}", {"email": viewer.email, "display_name": "x",
                                                              "role": "viewer", "active": "y",
                                                              "new_password": "another-new-password-7"})
    assert r.status_code == 302
    assert not is_logged_in(again) and is_logged_in(admin)


def test_an_admin_changing_their_own_password_stays_logged_in_here_only(app, admin_user):
    here, elsewhere = logged_in(app, admin_user), logged_in(app, admin_user)
    r = here.post_form(f"/admin/users/edit/?id={admin_user.id}", {"email": admin_user.email, "display_name": "me",
                                                                  "role": "admin", "active": "y",
                                                                  "new_password": "my-own-new-password-3"})
    assert r.status_code == 302
    assert is_logged_in(here) and not is_logged_in(elsewhere)


@pytest.mark.parametrize("change", [{"role": "admin"}, {"active": ""}], ids=["role", "deactivated"])
def test_a_role_change_or_deactivation_ends_the_users_sessions(app, admin_user, make_user, change):
    viewer = make_user("promoted@example.com")
    theirs = logged_in(app, viewer)
    form = {"email": viewer.email, "display_name": "p", "role": "viewer", "active": "y"} | change
    form = {k: v for k, v in form.items() if v != ""}
    assert logged_in(app, admin_user).post_form(f"/admin/users/edit/?id={viewer.id}", form).status_code == 302
    assert not is_logged_in(theirs)


def test_log_out_everywhere_else_ends_the_other_sessions_and_keeps_this_one(app, admin_user):
    here, laptop = logged_in(app, admin_user), logged_in(app, admin_user)
    stolen = replay(app, laptop)
    assert "Log out everywhere else" in here.get("/logout").get_data(as_text=True)
    assert here.post_form("/logout/elsewhere").status_code == 302
    assert is_logged_in(here) and not is_logged_in(laptop) and not is_logged_in(stolen)
    edited = db.session.get(User, admin_user.id)
    assert edited is not None and edited.updated_by_id is None  # ending sessions is no "user updated" event


def _age(client: Client, key: str, seconds: int) -> None:
    with client.session_transaction() as sess:
        sess[key] = int(time.time()) - seconds


@pytest.mark.parametrize("app_config", [{"SESSION_MAX_AGE": 3600, "SESSION_IDLE_TIMEOUT": 600}])
def test_a_session_ends_at_its_absolute_age_however_much_it_is_used_and_after_idling(app, admin_user, app_config):
    busy = logged_in(app, admin_user)
    _age(busy, LOGIN_AT, 3600 - 30)  # logged in 59.5 minutes ago and used every minute since
    assert is_logged_in(busy)
    _age(busy, LOGIN_AT, 3600 + 1)
    assert not is_logged_in(busy)  # the request itself did not extend it

    idle = logged_in(app, admin_user)
    _age(idle, SEEN_AT, 600 - 30)
    assert is_logged_in(idle)
    _age(idle, SEEN_AT, 600 + 1)
    assert not is_logged_in(idle)


def test_a_cookie_replayed_from_another_browser_is_refused(app, admin_user):
    browser = logged_in(app, admin_user)
    assert is_logged_in(replay(app, browser))  # the control: the same User-Agent
    assert not is_logged_in(replay(app, browser, agent="curl/8.0 (someone else)"))


def test_deleting_an_account_ends_its_sessions_whoever_deletes_it(app, admin_user, make_user):
    leaving = make_user("deleted-soon@example.com", "admin")
    theirs = logged_in(app, leaving)
    assert is_logged_in(theirs)
    leaving.soft_delete()  # as the CLI or a bulk action would: no session epoch moved
    db.session.commit()
    assert not is_logged_in(theirs)
    with theirs.session_transaction() as sess:
        assert "_user_id" not in sess  # ended, not only turned away by the admin's access check


@pytest.mark.parametrize("app_config", [{"SESSION_IDLE_TIMEOUT": 60}])
def test_a_short_idle_timeout_never_ends_a_session_in_use(app, admin_user, app_config, monkeypatch):
    busy = logged_in(app, admin_user)
    start = time.time()
    for step in range(1, 5):  # a request every 40 s for 160 s: never 60 s idle
        monkeypatch.setattr(time, "time", lambda step=step: start + 40 * step)
        assert is_logged_in(busy), f"ended after {40 * step} s though used every 40 s"


def test_an_unchanged_session_is_not_sent_again_on_every_response(app, admin_user):
    browser = logged_in(app, admin_user)
    browser.get("/admin/")  # the flash of the login, if any, is consumed
    response = browser.get("/admin/activity/feed.json")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
