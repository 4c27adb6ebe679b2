"""Who may see and change admin pages: login for everything, admin role for writes."""
from __future__ import annotations

from typing import Any

from flask import abort, redirect, request, url_for
from flask_login import current_user

# ModelView endpoints that change data, or show a form whose only purpose is to.
WRITE_ENDPOINTS = frozenset({"create_view", "edit_view", "delete_view", "action_view", "ajax_update"})


class SecureViewMixin:
    """Mix into every admin view: anonymous -> login page; viewer -> read only (403 on writes)."""

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_active)

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        if not self.is_accessible():
            # Come back to the page after login; a POST-only URL would only give a 405 there.
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=target))
        is_admin = current_user.is_admin
        if not is_admin and (name in WRITE_ENDPOINTS or request.method not in ("GET", "HEAD")):
            abort(403)
        return super()._handle_view(name, **kwargs)  # type: ignore[misc]

    @property
    def is_admin_user(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_admin)
