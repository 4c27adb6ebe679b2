"""CSRF on every endpoint that accepts POST: without the session's own valid token the request is refused with 400
and changes nothing; the same request with the token goes through (the control that lets these tests fail).

The endpoints come from the access sweep's table, which the access sweep keeps equal to the URL map.
"""
from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.conftest import PASSWORD, Client, logged_in
from tests.security.clients import is_logged_in
from tests.security.routes import EXPECTED, post_data, url_for_rule
from tests.security.rows import changed, seed, snapshot

# One-click unsubscribe is POSTed by mail clients, which hold no token: its signed URL is the authority
# (tests/delivery/test_unsubscribe.py refuses a forged one).
CSRF_EXEMPT = {"activity_links.unsubscribe"}
CSRF_ENDPOINTS = sorted(e for e, access in EXPECTED.items()
                        if set(access["POST"].values()) != {405} and e not in CSRF_EXEMPT)
CASES = [pytest.param(e, a, id=f"{e}-{a}" if a else e)
         for e in CSRF_ENDPOINTS for a in (("delete", "restore") if e.endswith(".action_view") else (None,))]

# What the control request (valid token) changes, by view method; model views change their own table.
CONTROL_CHANGES = {"create_view": "own table", "edit_view": "own table", "delete_view": "own table",
                   "action_view": "own table", "ajax_update": None, "run_now": {"report_runs", "files"},
                   "login": set(), "logout": {"users"}, "logout_elsewhere": {"users"}, "display": {"users"},
                   "new": {"activity_subscriptions"}, "test": set(), "pause": {"activity_subscriptions"},
                   "resume": set(), "delete": {"activity_subscriptions"},
                   "set_recipients": {"activity_report_recipients"}}


@pytest.fixture
def app_config(tmp_path) -> dict[str, Any]:
    return {"REPORTS_DIR": str(tmp_path / "reports")}


def test_every_post_rule_of_the_url_map_is_in_the_csrf_sweep(app):
    assert {r.endpoint for r in app.url_map.iter_rules() if "POST" in r.methods} == set(CSRF_ENDPOINTS) | CSRF_EXEMPT
    # 3 model views x (create, edit, delete, 2 actions, ajax update), run now, display settings, in, out, out
    # elsewhere, a subscription's new, test, pause, resume and delete, and a report's recipients
    assert len(CASES) == 29


def _sign(value: str, key: str, age: float = 0) -> str:
    """A token as Flask-WTF makes one, for ``value``, signed with ``key``, ``age`` seconds ago."""

    class Backdated(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    return URLSafeTimedSerializer(key, salt="wtf-csrf-token", signer=Backdated).dumps(value)


def bad_tokens(app: Flask, client: Client) -> dict[str, tuple[dict[str, Any], str]]:
    """Every way a forged request might carry a token: ``client.post`` arguments, and why Flask-WTF refuses it."""
    client.csrf()  # the session now holds its raw token
    with client.session_transaction() as session:
        raw = session["csrf_token"]
    expired = app.config["WTF_CSRF_TIME_LIMIT"] + 60
    missing, invalid = "The CSRF token is missing.", "The CSRF token is invalid."
    return {
        "missing": ({}, missing),
        "empty": ({"data": {"csrf_token": ""}}, missing),
        "garbage": ({"data": {"csrf_token": "not-a-token"}}, invalid),
        "bare session value": ({"data": {"csrf_token": raw}}, invalid),
        "signed with another key": ({"data": {"csrf_token": _sign(raw, "not-the-app-secret-key")}}, invalid),
        "garbage header": ({"headers": {"X-CSRFToken": "not-a-token"}}, invalid),
        "expired": ({"data": {"csrf_token": _sign(raw, app.config["SECRET_KEY"], age=expired)}},
                    "The CSRF token has expired."),
        "another session's": ({"data": {"csrf_token": app.test_client().csrf()}}, "The CSRF tokens do not match."),
        "valid token from a foreign page over https": (
            {"data": {"csrf_token": client.csrf()}, "base_url": "https://localhost",
             "headers": {"Referer": "https://evil.example/form"}}, "The referrer does not match the host."),
    }


@pytest.mark.parametrize("endpoint, action", CASES)
def test_post_without_a_valid_token_is_refused_and_the_valid_one_goes_through(app, make_user, admin_user,
                                                                              endpoint, action):
    seeded = seed(make_user, report=False)
    view, _, name = endpoint.partition(".")
    logging_in = endpoint == "auth.login"
    client = app.test_client() if logging_in else logged_in(app, admin_user)
    url = url_for_rule(next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint), seeded)
    data = {"email": admin_user.email, "password": PASSWORD} if logging_in else post_data(endpoint, seeded, action)
    before = snapshot(app)

    for variant, (request, reason) in bad_tokens(app, client).items():
        response = client.post(url, **{**request, "data": {**data, **request.get("data", {})}})
        assert response.status_code == 400, (variant, response.status_code)
        assert f"Form expired or forged: {reason}" in response.get_data(as_text=True), variant
        assert snapshot(app) == before, variant
        assert is_logged_in(client) is not logging_in, variant  # not logged in by login, not logged out by logout

    response = client.post(url, data={**data, "csrf_token": client.csrf()})
    if logging_in:
        assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    elif endpoint == "auth.logout":
        assert response.status_code == 302 and response.headers["Location"] == "/login"
    else:
        expected = EXPECTED[endpoint]["POST"]["admin"]
        assert response.status_code == (302 if isinstance(expected, str) else expected), response.status_code
    assert is_logged_in(client) is (endpoint != "auth.logout")
    wanted = CONTROL_CHANGES[name]
    assert changed(before, snapshot(app)) == ({view} if wanted == "own table" else wanted or set())
