"""Clients as the security tests drive them: whether one is logged in, and a login POST with a chosen ``next``.

``is_logged_in(client)`` is the one meaning of "logged in" here (conftest's ``logged_in(app, user)`` makes a
logged-in client): the server serves the dashboard to this client, and otherwise sends it to the login page.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.conftest import PASSWORD, Client


def is_logged_in(client: Client) -> bool:
    """True when /admin/ answers 200; False when it redirects to /login (anything else fails the test)."""
    r = client.get("/admin/")
    if r.status_code == 200:
        return True
    assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == "/login", (r.status_code, r.headers)
    return False


def login_post(client: Client, email: str, password: str = PASSWORD, next: str | None = None) -> Any:
    """POST /login with the session's own CSRF token (and ``next`` when given), as the login form would."""
    data = {"email": email, "password": password, "csrf_token": client.csrf()}
    if next is not None:
        data["next"] = next
    return client.post("/login", data=data)
