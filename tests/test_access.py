"""Security: who can reach which admin URL, CSRF on every form, login/logout, headers, secrets.

Every test runs on SQLite and PostgreSQL (conftest's parametrized ``database_url``).
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from admin_app.audit import acting_as
from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, ReportRun, User
from tests.conftest import PASSWORD, Client

SECRET_ITEM = "Secret item title 7f3a"
SECRET_LIST = "Secret bucketlist 91c2"
OWNER_EMAIL = "owner.secret@example.com"


# conftest's Client runs every request in its own app context (own ``g``, own DB session);
# the access tests below are only meaningful if that holds, so check it first.


def test_requests_do_not_share_the_login_of_another_client(app, admin_client):
    """Guards the isolation above: a second, anonymous client is not served as the admin."""
    assert admin_client.get("/admin/").status_code == 200
    assert app.test_client().get("/admin/").status_code == 302


# --- helpers --------------------------------------------------------------------------


def _seed(make_user) -> dict[str, Any]:
    """One user, one bucketlist and one item (live), one deleted item; returns their ids."""
    owner = make_user(OWNER_EMAIL, "viewer")
    with acting_as(None):
        bl = Bucketlist(title=SECRET_LIST, owner=owner)
        live = Item(title=SECRET_ITEM, bucketlist=bl)
        gone = Item(title="Deleted item 55e1", bucketlist=bl)
        db.session.add_all([bl, live, gone])
        db.session.commit()
        gone.soft_delete()
        db.session.commit()
    return {"users": owner.id, "bucketlists": bl.id, "items": live.id, "deleted_item": gone.id}


def _snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, read on a separate connection (what is really committed)."""
    out = {}
    with db.engine.connect() as conn:
        for model in (User, Bucketlist, Item, ReportRun):
            table = model.__table__
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(table.c.id))]
    return out



def _admin_rules(app: Flask) -> list[Any]:
    rules = [r for r in app.url_map.iter_rules()
             if r.rule.startswith("/admin") and not r.rule.startswith("/admin/static/")]
    assert len(rules) > 20, "expected the dashboard, activity and three model views"
    return sorted(rules, key=lambda r: r.rule)


_AJAX_FIELDS = {"items": "bucketlist", "bucketlists": "owner", "users": "email"}


def _url_for_rule(rule: Any, ids: dict[str, Any]) -> str:
    """A concrete URL for a rule: export type csv; real ids for details/edit; a query for ajax lookups."""
    path = re.sub(r"<int(\([^)]*\))?:run_id>", "1", rule.rule.replace("<export_type>", "csv"))
    assert "<" not in path, f"don't know how to fill {rule.rule}; extend the test"
    view, _, name = rule.endpoint.partition(".")
    if name in ("details_view", "edit_view"):
        return f"{path}?id={ids[view]}"
    if name == "ajax_lookup":
        return f"{path}?name={_AJAX_FIELDS[view]}&query=Sec"
    return path


def _post_data(rule: Any, ids: dict[str, Any]) -> dict[str, Any]:
    """Form data that WOULD change something if the request were processed."""
    view, _, name = rule.endpoint.partition(".")
    pk = ids.get(view)
    if name == "delete_view":
        return {"id": pk, "url": f"/admin/{view}/"}
    if name == "action_view":
        return {"action": "delete", "rowid": pk, "url": f"/admin/{view}/"}
    if name == "ajax_update":
        return {"list_form_pk": pk, "title": "hacked", "email": "hacked@example.com"}
    if rule.endpoint == "reports.run_now":
        return {"report": "items", "period": "today"}
    if name in ("create_view", "edit_view"):
        return {"title": "hacked", "bucketlist": ids["bucketlists"], "owner": ids["users"],
                "email": "hacked@example.com", "role": "admin", "active": "y", "new_password": "hacked-password-1"}
    return {}


def _assert_login_redirect(response: Any, requested: str | None) -> None:
    """302 to /login; ``next`` is the requested path for a GET, absent for a POST (a 405 after login)."""
    assert response.status_code == 302, (requested, response.status_code, response.get_data(as_text=True)[:500])
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost"), response.headers["Location"]
    assert location.path == "/login", response.headers["Location"]
    nxt = parse_qs(location.query).get("next", [""])[0]
    if requested is None:
        assert nxt == "", nxt
    else:
        assert nxt == requested, (nxt, requested)
        assert nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt
    body = response.get_data(as_text=True)
    for secret in (SECRET_ITEM, SECRET_LIST, OWNER_EMAIL):
        assert secret not in body
    assert response.mimetype not in ("application/json", "text/csv")


def _logged_in(client: Client) -> bool:
    r = client.get("/admin/")
    if r.status_code == 200:
        return True
    assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == "/login"
    return False


def _login_post(client: Client, email: str, password: str = PASSWORD, next: str | None = None) -> Any:
    token = client.csrf()
    data = {"email": email, "password": password, "csrf_token": token}
    if next is not None:
        data["next"] = next
    return client.post("/login", data=data)


# --- anonymous ------------------------------------------------------------------------


def test_anonymous_get_of_every_admin_url_redirects_to_login_without_data(app, client, make_user):
    ids = _seed(make_user)
    checked = 0
    for rule in _admin_rules(app):
        if "GET" not in rule.methods:
            continue
        url = _url_for_rule(rule, ids)
        _assert_login_redirect(client.get(url, buffered=True), url)
        checked += 1
    assert checked >= 17


def test_anonymous_post_to_every_admin_url_redirects_to_login_and_changes_nothing(app, client, make_user):
    ids = _seed(make_user)
    before = _snapshot()
    checked = 0
    for rule in _admin_rules(app):
        if "POST" not in rule.methods:
            continue
        url = _url_for_rule(rule, ids)
        # A valid CSRF token (anyone can get one from /login), so the access check itself is what refuses.
        _assert_login_redirect(client.post_form(url, _post_data(rule, ids)), None)
        checked += 1
    assert checked == 17  # new, edit, delete, action, ajax update for three models; report Run now; display settings
    assert _snapshot() == before


@pytest.mark.parametrize("path", ["/admin/activity/feed.json", "/admin/activity/export.csv",
                                  "/admin/items/export/csv/"])
def test_anonymous_feed_and_exports_redirect_to_login_not_data(client, make_user, path):
    _seed(make_user)
    r = client.get(path, buffered=True)
    _assert_login_redirect(r, path)
    assert not r.headers.get("Content-Disposition")


# --- viewer ---------------------------------------------------------------------------


def test_viewer_can_read_dashboard_lists_details_activity_and_exports(viewer_client, make_user):
    ids = _seed(make_user)
    html_pages = ["/admin/", "/admin/activity/", "/admin/users/", "/admin/bucketlists/", "/admin/items/",
                  f"/admin/users/details/?id={ids['users']}", f"/admin/bucketlists/details/?id={ids['bucketlists']}",
                  f"/admin/items/details/?id={ids['items']}"]
    for url in html_pages:
        r = viewer_client.get(url, buffered=True)
        assert r.status_code == 200, (url, r.status_code)
        assert r.mimetype == "text/html"
    assert SECRET_ITEM in viewer_client.get("/admin/items/").get_data(as_text=True)
    assert SECRET_LIST in viewer_client.get(f"/admin/bucketlists/details/?id={ids['bucketlists']}").get_data(as_text=True)

    feed = viewer_client.get("/admin/activity/feed.json")
    assert feed.status_code == 200 and feed.mimetype == "application/json"
    assert SECRET_ITEM in {e["label"] for e in feed.get_json()["events"]}

    for url in ("/admin/activity/export.csv", "/admin/items/export/csv/", "/admin/users/export/csv/",
                "/admin/bucketlists/export/csv/"):
        r = viewer_client.get(url, buffered=True)
        assert r.status_code == 200, (url, r.status_code)
        assert r.mimetype == "text/csv"
        assert "attachment" in r.headers["Content-Disposition"]
    assert SECRET_ITEM in viewer_client.get("/admin/items/export/csv/", buffered=True).get_data(as_text=True)


def test_viewer_list_pages_offer_no_write_controls(viewer_client, make_user):
    ids = _seed(make_user)
    for view in ("users", "bucketlists", "items"):
        body = viewer_client.get(f"/admin/{view}/").get_data(as_text=True)
        assert f"/admin/{view}/new/" not in body
        assert f"/admin/{view}/edit/" not in body
        assert f"/admin/{view}/delete/" not in body
        assert f"/admin/{view}/action/" not in body
    details = viewer_client.get(f"/admin/items/details/?id={ids['items']}").get_data(as_text=True)
    assert "/admin/items/edit/" not in details and "/admin/items/delete/" not in details


@pytest.mark.parametrize("view", ["users", "bucketlists", "items"])
def test_viewer_gets_403_on_create_and_edit_forms(viewer_client, make_user, view):
    ids = _seed(make_user)
    assert viewer_client.get(f"/admin/{view}/new/").status_code == 403
    assert viewer_client.get(f"/admin/{view}/edit/?id={ids[view]}").status_code == 403


def test_viewer_post_to_delete_is_refused_and_changes_nothing(viewer_client, make_user):
    ids = _seed(make_user)
    before = _snapshot()
    r = viewer_client.post_form("/admin/items/delete/", {"id": ids["items"], "url": "/admin/items/"})
    assert r.status_code == 403
    assert _snapshot() == before
    with db.engine.connect() as conn:
        assert conn.scalar(select(Item.deleted_at).where(Item.id == ids["items"])) is None


def test_viewer_restore_action_is_refused_and_row_stays_deleted(viewer_client, make_user):
    ids = _seed(make_user)
    before = _snapshot()
    r = viewer_client.post_form("/admin/items/action/",
                                {"action": "restore", "rowid": ids["deleted_item"], "url": "/admin/items/"})
    assert r.status_code == 403
    assert _snapshot() == before
    with db.engine.connect() as conn:
        assert conn.scalar(select(Item.deleted_at).where(Item.id == ids["deleted_item"])) is not None


def test_viewer_post_to_every_write_endpoint_is_refused_and_changes_nothing(app, viewer_client, make_user):
    ids = _seed(make_user)
    before = _snapshot()
    refused = []
    for rule in _admin_rules(app):
        if "POST" not in rule.methods or rule.endpoint == "settings.display":  # their own display zone: allowed
            continue
        url = _url_for_rule(rule, ids)
        r = viewer_client.post_form(url, _post_data(rule, ids))
        assert r.status_code == 403, (url, r.status_code)
        refused.append(url)
        # also the restore action, on the deleted row
        if rule.endpoint.endswith(".action_view"):
            r = viewer_client.post_form(url, {"action": "restore", "rowid": ids["deleted_item"]})
            assert r.status_code == 403, (url, r.status_code)
    assert len(refused) == 16
    after = _snapshot()
    assert after == before
    titles = {row[Item.__table__.columns.keys().index("title")] for row in after["items"]}
    assert SECRET_ITEM in titles and "hacked" not in titles


# --- CSRF -----------------------------------------------------------------------------


def _other_session_token(app: Flask) -> str:
    """A well-formed token signed with the app's key, but for a different browser session."""
    return app.test_client().csrf()


def _bad_tokens(app: Flask) -> list[dict[str, str]]:
    return [{}, {"csrf_token": "not-a-token"}, {"csrf_token": _other_session_token(app)}]


def _assert_csrf_refused(response: Any) -> None:
    assert response.status_code == 400, response.status_code
    assert "Form expired or forged" in response.get_data(as_text=True)


def test_admin_create_without_or_with_wrong_csrf_token_is_refused(app, admin_client, make_user):
    ids = _seed(make_user)
    before = _snapshot()
    for extra in _bad_tokens(app):
        data = {"title": "forged", "bucketlist": ids["bucketlists"], **extra}
        _assert_csrf_refused(admin_client.post("/admin/items/new/", data=data))
    assert _snapshot() == before


def test_admin_edit_without_or_with_wrong_csrf_token_is_refused(app, admin_client, make_user):
    ids = _seed(make_user)
    before = _snapshot()
    for extra in _bad_tokens(app):
        data = {"title": "forged", "bucketlist": ids["bucketlists"], **extra}
        _assert_csrf_refused(admin_client.post(f"/admin/items/edit/?id={ids['items']}", data=data))
    assert _snapshot() == before


def test_admin_delete_without_or_with_wrong_csrf_token_is_refused(app, admin_client, make_user):
    ids = _seed(make_user)
    before = _snapshot()
    for extra in _bad_tokens(app):
        data = {"id": ids["items"], "url": "/admin/items/", **extra}
        _assert_csrf_refused(admin_client.post("/admin/items/delete/", data=data))
    assert _snapshot() == before
    with db.engine.connect() as conn:
        assert conn.scalar(select(Item.deleted_at).where(Item.id == ids["items"])) is None


def test_admin_restore_action_without_or_with_wrong_csrf_token_is_refused(app, admin_client, make_user):
    ids = _seed(make_user)
    before = _snapshot()
    for extra in _bad_tokens(app):
        data = {"action": "restore", "rowid": ids["deleted_item"], "url": "/admin/items/", **extra}
        _assert_csrf_refused(admin_client.post("/admin/items/action/", data=data))
    assert _snapshot() == before


def test_the_valid_token_control_case_does_change_data(admin_client, make_user):
    """The CSRF tests above would pass trivially if the admin could not write at all; it can."""
    ids = _seed(make_user)
    r = admin_client.post_form("/admin/items/action/", {"action": "restore", "rowid": ids["deleted_item"],
                                                        "url": "/admin/items/"})
    assert r.status_code == 302
    with db.engine.connect() as conn:
        assert conn.scalar(select(Item.deleted_at).where(Item.id == ids["deleted_item"])) is None


def test_login_without_or_with_wrong_csrf_token_is_refused(app, admin_user):
    for extra in _bad_tokens(app):
        c = app.test_client()
        c.get("/login")
        r = c.post("/login", data={"email": admin_user.email, "password": PASSWORD, **extra})
        _assert_csrf_refused(r)
        assert not _logged_in(c)


def test_logout_without_or_with_wrong_csrf_token_keeps_the_session(app, admin_client):
    for extra in _bad_tokens(app):
        _assert_csrf_refused(admin_client.post("/logout", data=extra))
        assert _logged_in(admin_client)


# --- login and logout -----------------------------------------------------------------


def test_wrong_password_gives_401_and_no_session(client, admin_user):
    r = _login_post(client, admin_user.email, "wrong-password-123")
    assert r.status_code == 401
    assert "Wrong email or password." in r.get_data(as_text=True)
    assert not _logged_in(client)


def test_unknown_email_gives_same_status_and_message_as_wrong_password(app, admin_user):
    wrong_pw = _login_post(app.test_client(), admin_user.email, "wrong-password-123")
    unknown = _login_post(app.test_client(), "nobody@example.com", "wrong-password-123")
    assert unknown.status_code == wrong_pw.status_code == 401

    def message(r: Any) -> list[str]:
        return re.findall(r'role="alert">([^<]*)<', r.get_data(as_text=True))

    assert message(unknown) == message(wrong_pw) == ["Wrong email or password."]


def test_inactive_user_cannot_log_in(client, make_user):
    user = make_user("sleepy@example.com", "admin")
    user.active = False
    db.session.commit()
    r = _login_post(client, "sleepy@example.com")
    assert r.status_code == 401
    assert not _logged_in(client)


def test_soft_deleted_user_cannot_log_in(client, make_user):
    user = make_user("gone@example.com", "admin")
    user.soft_delete()
    db.session.commit()
    assert _login_post(client, "gone@example.com").status_code == 401
    assert not _logged_in(client)


def test_deactivated_user_loses_an_existing_session(app, make_user):
    user = make_user("later@example.com", "admin")
    c = app.test_client()
    assert c.login("later@example.com").status_code == 302
    assert _logged_in(c)
    user.active = False
    db.session.commit()
    assert not _logged_in(c)


def test_good_login_redirects_to_local_next(client, admin_user):
    r = _login_post(client, admin_user.email, next="/admin/items/?page=1")
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    assert loc.netloc in ("", "localhost")
    assert (loc.path, loc.query) == ("/admin/items/", "page=1")
    assert _logged_in(client)


def test_good_login_without_next_goes_to_dashboard(client, admin_user):
    r = _login_post(client, admin_user.email)
    assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == "/admin/"


def test_login_page_carries_next_into_the_form(client):
    body = client.get("/login?next=/admin/items/").get_data(as_text=True)
    assert re.search(r'name="next"[^>]*value="/admin/items/"', body)


@pytest.mark.parametrize("evil", [
    "//evil.example", "\\\\evil.example", "/\\evil", " javascript:alert(1)", "https:evil",
    "http://evil.example/x", "https://evil.example", "///evil.example", "/\t/evil.example",
    "javascript:alert(1)", "evil.example", "http:/evil.example",
])
def test_login_never_redirects_off_host(app, admin_user, evil):
    c = app.test_client()
    r = _login_post(c, admin_user.email, next=evil)
    assert r.status_code == 302
    location = r.headers["Location"]
    parts = urlsplit(location)
    assert parts.netloc in ("", "localhost"), location
    assert parts.scheme in ("", "http", "https"), location
    assert parts.path.startswith("/") and not parts.path.startswith("//"), location
    assert "\\" not in location and "evil" not in location.lower(), location
    # and the browser following it lands on this app
    assert c.get(location).status_code in (200, 302)


def test_logout_with_token_ends_the_session(admin_client):
    assert _logged_in(admin_client)
    r = admin_client.post_form("/logout")
    assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == "/login"
    r = admin_client.get("/admin/")
    _assert_login_redirect(r, "/admin/")


def test_get_logout_only_asks_and_keeps_the_session(admin_client):
    r = admin_client.get("/logout")
    assert r.status_code == 200
    assert 'method="post"' in r.get_data(as_text=True)
    assert _logged_in(admin_client)


# --- headers and cookies --------------------------------------------------------------


def _assert_security_headers(response: Any) -> str:
    csp = response.headers.get("Content-Security-Policy", "")
    script_src = next((d.strip() for d in csp.split(";") if d.strip().startswith("script-src")), "")
    m = re.search(r"'nonce-([A-Za-z0-9_\-]+)'", script_src)
    assert m, csp
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("X-Frame-Options") in ("DENY", "SAMEORIGIN")
    assert response.headers.get("Referrer-Policy")
    return m.group(1)


def test_security_headers_on_html_json_and_csv(admin_client, make_user):
    _seed(make_user)
    page = admin_client.get("/admin/")
    nonce = _assert_security_headers(page)
    # the nonce in the header is the one the page's own scripts carry
    scripts = re.findall(r"<script[^>]*>", page.get_data(as_text=True))
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts), scripts
    assert page.headers.get("Cache-Control") == "no-store"

    feed = admin_client.get("/admin/activity/feed.json")
    assert feed.status_code == 200
    _assert_security_headers(feed)
    export = admin_client.get("/admin/activity/export.csv", buffered=True)
    assert export.status_code == 200
    _assert_security_headers(export)
    model_export = admin_client.get("/admin/items/export/csv/", buffered=True)
    assert model_export.status_code == 200
    _assert_security_headers(model_export)
    _assert_security_headers(admin_client.get("/login"))


def test_csp_nonce_is_fresh_per_response(admin_client):
    first = _assert_security_headers(admin_client.get("/admin/"))
    second = _assert_security_headers(admin_client.get("/admin/"))
    assert first != second


def test_session_cookie_is_httponly_and_samesite_lax(client, admin_user):
    r = _login_post(client, admin_user.email)
    assert r.status_code == 302
    cookies = [c for c in r.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, r.headers.getlist("Set-Cookie")
    for cookie in cookies:
        attrs = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
        assert "httponly" in attrs, cookie
        assert attrs.get("samesite", "").lower() == "samesite=lax", cookie


# --- secrets --------------------------------------------------------------------------


def test_user_pages_never_show_a_password_hash(admin_client, admin_user, make_user):
    ids = _seed(make_user)
    owner = db.session.get(User, ids["users"])
    hashes = [owner.password_hash, admin_user.password_hash]
    assert all(len(h) > 20 for h in hashes)
    urls = ["/admin/users/", f"/admin/users/details/?id={ids['users']}", "/admin/users/export/csv/",
            f"/admin/users/edit/?id={ids['users']}", "/admin/users/new/",
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
    _seed(make_user)
    owner_hash = db.session.scalar(select(User.password_hash).where(User.email == OWNER_EMAIL))
    r = admin_client.get(f"/admin/users/?search={owner_hash[:12]}")
    assert r.status_code == 200
    assert OWNER_EMAIL not in r.get_data(as_text=True)
