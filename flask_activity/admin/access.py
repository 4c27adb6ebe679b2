"""Who may see the extension's pages: the host decides, through the two checks given to init_app.

``can_read(user)`` opens the feed, dashboard and reports; ``can_administer(user)`` also opens Run now (every
POST). Anonymous visitors go to the host's login view (Flask-Login's ``login_view``) with ``next``; the extension
never adds a login of its own.
"""
from __future__ import annotations

from typing import Any

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user

from ..state import state


def can_read() -> bool:
    """True when the current user may read activity (the host's can_read)."""
    return bool(state().can_read(current_user))


def can_administer() -> bool:
    """True when the current user may run reports and administer (the host's can_administer)."""
    return bool(state().can_administer(current_user))


def login_redirect() -> Any:
    """The host's login page with ``next`` back here (a POST-only URL would only give a 405 there); 401 when the
    host has no login view."""
    manager = getattr(current_app, "login_manager", None)
    view = getattr(manager, "login_view", None)
    if not view:
        abort(401)
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for(view, next=target))


class ActivityAccessMixin:
    """Mix into the extension's views: anonymous -> login; a reader reads; only an administrator POSTs, unless the
    view sets ``readers_post`` (its handlers then decide whose rows a reader may change, as subscriptions do)."""

    readers_post = False

    def is_accessible(self) -> bool:
        return can_read()

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        if not getattr(current_user, "is_authenticated", False):
            return login_redirect()
        if not self.is_accessible():
            abort(403)
        if request.method not in ("GET", "HEAD") and not self.readers_post and not can_administer():
            abort(403)
        # A mixin: _handle_view is on the Flask-Admin view it is mixed into, which mypy cannot see from here.
        return super()._handle_view(name, **kwargs)  # type: ignore[misc]

    def is_visible(self) -> bool:  # the menu shows the views a user may open
        return can_read()

    @property
    def is_admin_user(self) -> bool:
        return can_administer()
