"""Sessions and response headers: a fresh session at login, a cleared one at logout, cookie flags and
lifetime, security headers on every kind of response, CSP nonces in Flask-Admin's own pages, and no
debugger in production.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from itsdangerous.timed import TimestampSigner

from admin_app import ConfigError, create_app
from admin_app.extensions import db
from tests.conftest import PASSWORD, Client, _config
from tests.security.clients import is_logged_in, login_post
from tests.security.routes import swept_rules, url_for_rule
from tests.security.rows import seed

ROOT = Path(__file__).resolve().parents[2]
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def app_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return getattr(request, "param", {})


def page_token(client: Client, url: str = "/login") -> str:
    match = _TOKEN.search(client.get(url).get_data(as_text=True))
    assert match, url
    return match.group(1)


def session_cookie(client: Client) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie is not None else None


def header_nonce(response: Any) -> str:
    match = re.search(r"script-src 'self' 'nonce-([^']*)'", response.headers.get("Content-Security-Policy", ""))
    assert match, response.headers
    return match.group(1)


# --- the session is renewed at login and cleared at logout -------------------------------------


def test_login_drops_everything_the_session_held_before(app, admin_user):
    """Session fixation: nothing a visitor (or an attacker who planted a cookie) put there survives login."""
    c = app.test_client()
    c.get("/login")
    with c.session_transaction() as sess:
        sess["planted"] = "attacker-chosen"
    assert c.login(admin_user.email).status_code == 302
    with c.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.get("_user_id") == str(admin_user.id)


def test_login_changes_the_csrf_token_and_the_old_one_stops_working(app, admin_user):
    c = app.test_client()
    before = page_token(c)
    r = c.post("/login", data={"email": admin_user.email, "password": PASSWORD, "csrf_token": before})
    assert r.status_code == 302
    after = page_token(c, "/logout")
    assert after != before
    stale = c.post("/logout", data={"csrf_token": before})
    assert stale.status_code == 400 and is_logged_in(c)
    # control: the new token does work
    assert c.post("/logout", data={"csrf_token": after}).status_code == 302 and not is_logged_in(c)


def test_login_changes_the_session_cookie_and_the_old_cookie_is_anonymous(app, admin_user):
    c = app.test_client()
    c.get("/login")
    anonymous_cookie = session_cookie(c)
    assert anonymous_cookie
    assert c.login(admin_user.email).status_code == 302
    assert session_cookie(c) not in (None, anonymous_cookie)
    replay = app.test_client()
    replay.set_cookie("session", anonymous_cookie)
    assert not is_logged_in(replay)


def test_logout_clears_the_whole_session(admin_client):
    with admin_client.session_transaction() as sess:
        sess["planted"] = "left over"
    token = admin_client.csrf()
    assert admin_client.post("/logout", data={"csrf_token": token}).status_code == 302
    with admin_client.session_transaction() as sess:
        assert set(sess.keys()) <= {"_flashes"}, dict(sess)  # only the "logged out" message
    assert not is_logged_in(admin_client)
    assert admin_client.post("/logout", data={"csrf_token": token}).status_code == 400  # token died with it


def test_get_logout_only_asks_and_keeps_the_session(admin_client):
    r = admin_client.get("/logout")
    assert r.status_code == 200
    assert 'method="post"' in r.get_data(as_text=True)
    assert is_logged_in(admin_client)


def test_deactivated_user_loses_an_existing_session(app, make_user):
    user = make_user("later@example.com", "admin")
    c = app.test_client()
    assert c.login("later@example.com").status_code == 302
    assert is_logged_in(c)
    user.active = False
    db.session.commit()
    assert not is_logged_in(c)


# --- cookies and lifetime -----------------------------------------------------------------------


def _set_cookie(response: Any, name: str = "session") -> dict[str, str]:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    assert len(headers) == 1, response.headers.getlist("Set-Cookie")
    attrs = {}
    for part in headers[0].split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attrs[key.lower()] = value
    return attrs


def test_login_cookie_is_httponly_lax_and_lasts_hours_not_days(client, admin_user):
    r = login_post(client, admin_user.email)
    assert r.status_code == 302
    attrs = _set_cookie(r)
    assert "httponly" in attrs and attrs.get("samesite") == "Lax"
    assert "secure" not in attrs  # plain-HTTP development and tests; production below
    assert "Strict-Transport-Security" not in r.headers  # it would lock a browser out of http://127.0.0.1
    expires = parsedate_to_datetime(attrs["expires"])
    lifetime = expires - datetime.now(UTC)
    assert timedelta(hours=7, minutes=55) < lifetime <= timedelta(hours=8, minutes=1), lifetime
    assert not any(h.startswith("remember_token=") for h in r.headers.getlist("Set-Cookie"))


def test_production_login_cookie_is_secure(database_url, admin_user):
    app = create_app({**_config(database_url), "APP_ENV": "production"})
    app.test_client_class = Client
    try:
        c = app.test_client()
        r = login_post(c, admin_user.email)  # type: ignore[arg-type]
        assert r.status_code == 302
        attrs = _set_cookie(r)
        assert {"secure", "httponly"} <= attrs.keys() and attrs.get("samesite") == "Lax"
        for path in ("/login", "/admin/", "/admin/activity/feed.json", "/static/app.css"):
            assert c.get(path).headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains", path
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("age, still_logged_in", [(timedelta(hours=7, minutes=50), True),
                                                  (timedelta(hours=8, minutes=1), False)])
def test_server_refuses_a_session_cookie_older_than_its_lifetime(admin_client, monkeypatch, age,
                                                                 still_logged_in):
    """The cookie's Expires is advice to the browser; the signed timestamp is what the server enforces."""
    now = int(time.time())
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now + int(age.total_seconds()))
    assert is_logged_in(admin_client) is still_logged_in


# --- security headers on every kind of response ---------------------------------------------------


def assert_security_headers(response: Any, label: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert re.search(r"script-src 'self' 'nonce-[A-Za-z0-9_\-]{16,}'", csp), (label, csp)
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, (label, csp)
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, (label, csp)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", label
    assert response.headers.get("X-Frame-Options") == "DENY", label
    assert response.headers.get("Referrer-Policy") == "same-origin", label


def test_security_headers_on_every_kind_of_response(app, admin_user, viewer_client, make_user):
    seed(make_user, report=False)
    anon = app.test_client()
    admin = app.test_client()
    login = login_post(admin, admin_user.email)
    checks = [
        ("login redirect", login, 302),
        ("HTML page", admin.get("/admin/"), 200),
        ("login page", anon.get("/login"), 200),
        ("JSON", admin.get("/admin/activity/feed.json"), 200),
        ("JSON 400", admin.get("/admin/activity/feed.json?limit=0"), 400),
        ("activity CSV", admin.get("/admin/activity/export.csv"), 200),
        ("model CSV", admin.get("/admin/items/export/csv/"), 200),
        ("anonymous redirect", anon.get("/admin/items/"), 302),
        ("root redirect", anon.get("/"), 302),
        ("CSRF 400", admin.post("/logout", data={}), 400),
        ("NUL 400", admin.get("/admin/activity/?model=%00"), 400),
        ("403", viewer_client.get("/admin/items/new/"), 403),
        ("404", admin.get("/no-such-page"), 404),
        ("405", anon.delete("/login"), 405),
        ("logout redirect", admin.post("/logout", data={"csrf_token": page_token(admin, "/logout")}), 302),
    ]
    for label, response, status in checks:
        assert response.status_code == status, (label, response.status_code)
        assert_security_headers(response, label)
    assert {r.mimetype for _, r, _ in checks} >= {"text/html", "application/json", "text/csv"}


def test_security_headers_on_html_json_and_csv(admin_client, make_user):
    seed(make_user, report=False)
    page = admin_client.get("/admin/")
    assert_security_headers(page, "HTML page")
    # the nonce in the header is the one the page's own scripts carry
    nonce = header_nonce(page)
    scripts = re.findall(r"<script[^>]*>", page.get_data(as_text=True))
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts), scripts
    assert page.headers.get("Cache-Control") == "no-store"

    feed = admin_client.get("/admin/activity/feed.json")
    assert feed.status_code == 200
    assert_security_headers(feed, "JSON")
    export = admin_client.get("/admin/activity/export.csv", buffered=True)
    assert export.status_code == 200
    assert_security_headers(export, "activity CSV")
    model_export = admin_client.get("/admin/items/export/csv/", buffered=True)
    assert model_export.status_code == 200
    assert_security_headers(model_export, "model CSV")
    assert_security_headers(admin_client.get("/login"), "login page")


def test_csp_nonce_is_fresh_per_response(admin_client):
    first = header_nonce(admin_client.get("/admin/"))
    second = header_nonce(admin_client.get("/admin/"))
    assert first != second


def test_a_request_refused_by_csrf_gets_a_real_nonce_that_its_page_uses(client):
    """Regression: CSRFProtect's hook ran before the nonce hook, so its 400 page got "script-src 'nonce-'"."""
    client.get("/login")
    r = client.post("/login", data={"email": "a@example.com", "password": "x"})
    assert r.status_code == 400 and "Form expired or forged" in r.get_data(as_text=True)
    nonce = header_nonce(r)
    assert len(nonce) >= 16
    links = re.findall(r"<link[^>]*stylesheet[^>]*>", r.get_data(as_text=True))
    assert links and all(f'nonce="{nonce}"' in link for link in links), links


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT_ACCOUNT": "1 per minute"}],
                         indirect=True)
def test_security_headers_on_the_429_page(client, admin_user):
    assert login_post(client, admin_user.email).status_code == 302
    refused = login_post(client, admin_user.email)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"].isdigit()
    assert_security_headers(refused, "429")
    nonce = header_nonce(refused)
    links = re.findall(r"<link[^>]*stylesheet[^>]*>", refused.get_data(as_text=True))
    assert links and all(f'nonce="{nonce}"' in link for link in links)


_INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
_JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']\s*javascript:(?!void\(0\)["'])""", re.IGNORECASE)


def test_every_admin_page_runs_only_scripts_carrying_this_responses_nonce(app, admin_client, make_user):
    """Flask-Admin 2's csp_nonce_generator is wired: its own templates' scripts carry the header's nonce.

    Inline handlers (onclick=...) and javascript: URLs cannot carry a nonce, so CSP blocks them: none may
    be left. Flask-Admin's inert ``href="javascript:void(0)"`` on the active tab is tolerated (blocked,
    and it did nothing anyway).
    """
    seeded = seed(make_user, report=False)
    pages = 0
    for rule in swept_rules(app):
        if (not rule.rule.startswith("/admin") or rule.rule.startswith("/admin/static/") or "GET" not in rule.methods
                or rule.endpoint == "reports.download"):  # a file, never a page
            continue
        url = url_for_rule(rule, seeded)
        r = admin_client.get(url)
        if r.mimetype != "text/html" or r.status_code != 200:
            continue
        pages += 1
        nonce = header_nonce(r)
        body = r.get_data(as_text=True)
        scripts = re.findall(r"<script\b[^>]*>", body)
        assert scripts, url
        assert all(f'nonce="{nonce}"' in tag for tag in scripts), (url, [t for t in scripts if nonce not in t])
        styles = re.findall(r"<style\b[^>]*>", body)
        assert all(f'nonce="{nonce}"' in tag for tag in styles), (url, styles)
        assert not _INLINE_HANDLER.findall(body), (url, _INLINE_HANDLER.findall(body)[:3])
        assert not _JS_URL.findall(body), url
    # dashboard, activity, reports, and list, details, create, edit for three models
    assert pages >= 15, pages


# --- no debugger in production ---------------------------------------------------------------------


def _production(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"APP_ENV": "production", "SECRET_KEY": "k" * 64, "INSTANCE_DIR": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": "sqlite://", **extra}


@pytest.mark.parametrize("flag", ["1", "true"])
def test_production_refuses_to_start_with_flask_debug_set(tmp_path, monkeypatch, flag):
    monkeypatch.setenv("FLASK_DEBUG", flag)  # what `flask run --debug` sets too
    with pytest.raises(ConfigError, match="debug mode is not allowed"):
        create_app(_production(tmp_path))


def test_production_refuses_to_start_with_debug_in_its_settings(tmp_path):
    with pytest.raises(ConfigError, match="debug mode is not allowed"):
        create_app(_production(tmp_path, DEBUG=True))


def test_development_may_still_use_debug_mode(tmp_path, monkeypatch):
    """The contrast: the refusal above is production's, not a broken debug switch."""
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = create_app({**_production(tmp_path), "APP_ENV": "development"})
    assert app.debug is True


def test_manage_py_in_production_with_flask_debug_exits_2_with_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "APP_ENV": "production", "SECRET_KEY": "k" * 64, "FLASK_DEBUG": "1",
           "INSTANCE_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"}
    proc = subprocess.run([sys.executable, "manage.py", "init-db"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "debug mode is not allowed" in lines[0], proc.stderr
    assert not (tmp_path / "app.db").exists()


def test_production_errors_show_no_traceback_and_no_debugger(tmp_path):
    app = create_app(_production(tmp_path, TESTING=False))

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail 5d1e")

    c = app.test_client()
    r = c.get("/boom")
    assert r.status_code == 500
    body = r.get_data(as_text=True)
    assert "secret detail" not in body and "Traceback" not in body and "__debugger__" not in body
    assert_security_headers(r, "500")
    console = c.get("/?__debugger__=yes&cmd=resource&f=debugger.js")
    assert console.status_code in (302, 404) and b"CONSOLE_MODE" not in console.data
