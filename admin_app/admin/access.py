"""Who may see and change admin pages: login for everything, admin role for writes."""
from __future__ import annotations

from typing import Any, cast

from flask import Request, abort, redirect, request, url_for
from flask_login import current_user
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.local import LocalProxy

from ..auth import safe_next

# ModelView endpoints that change data, or show a form whose only purpose is to.
WRITE_ENDPOINTS = frozenset({"create_view", "edit_view", "delete_view", "action_view", "ajax_update"})


def _ignore_foreign_return_url() -> None:
    """Drop a ``url=`` (Flask-Admin's return URL) that is not a plain local path: the view then returns to its list.

    Flask-Admin follows url= whenever urljoin() keeps it on this host, but Werkzeug sends "http:evil" as
    "http:///evil", which browsers open on the host "evil". Ignored rather than refused, as Flask-Admin ignores
    the values it does catch.
    """
    current = cast("LocalProxy[Request]", request)._get_current_object()  # the object, to replace its args/form
    for source in ("args", "form"):
        values = getattr(current, source)
        if any(safe_next(v) != v for v in values.getlist("url") if v):
            setattr(current, source, ImmutableMultiDict([(k, v) for k, v in values.items(multi=True) if k != "url"]))
            vars(current).pop("values", None)  # the cached args + form


class SecureViewMixin:
    """Mix into every admin view: anonymous -> login page; viewer -> read only (403 on writes)."""

    #: True only for a view whose POSTs change nothing but the requesting user's own preferences (viewers too).
    viewers_may_post: bool = False

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_active)

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        if not self.is_accessible():
            # Come back to the page after login; a POST-only URL would only give a 405 there.
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=target))
        is_admin = current_user.is_admin
        # viewers_may_post opens POST on that view only; Flask-Admin's write endpoints stay closed whatever it says.
        if not is_admin and (name in WRITE_ENDPOINTS
                             or (not self.viewers_may_post and request.method not in ("GET", "HEAD"))):
            abort(403)
        _ignore_foreign_return_url()
        # A mixin: _handle_view is on the Flask-Admin view it is mixed into, which mypy cannot see from here.
        return super()._handle_view(name, **kwargs)  # type: ignore[misc]

    @property
    def is_admin_user(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_admin)
