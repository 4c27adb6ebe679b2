"""The URL map as the sweeps see it: who may reach each endpoint (``EXPECTED``), and a URL and form data for each.

``EXPECTED`` classifies every endpoint of the URL map by role and method. The access sweep fails on any rule
it does not list (and on any entry no rule matches), so a new endpoint cannot ship unclassified.
"""
from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import Rule

from tests.security.rows import OWN_PREFERENCES, OWNER_EMAIL, Seeded

ROLES = ("anonymous", "viewer", "admin")
METHODS = ("GET", "POST")
MODEL_VIEWS = ("users", "bucketlists", "items")
METRICS_TOKEN = "sweep-scraper-token-0123456789"

# Expected outcomes: an HTTP status, or one of these redirects.
LOGIN = "302 to /login"  # GET: ?next=<the requested path>; POST: no next (it would only 405 after login)
HOME = "302 to /admin/"
ON_HOST = "302 on this host"  # an admin write that succeeded and returns to a page of this app


def _same(outcome: int | str) -> dict[str, int | str]:
    return dict.fromkeys(ROLES, outcome)


def _by_role(anonymous: int | str, viewer: int | str, admin: int | str) -> dict[str, int | str]:
    return {"anonymous": anonymous, "viewer": viewer, "admin": admin}


PUBLIC_FILE = {"GET": _same(200), "POST": _same(405)}
READ = {"GET": _by_role(LOGIN, 200, 200), "POST": _same(405)}  # viewers read and download
FORM = {"GET": _by_role(LOGIN, 403, 200), "POST": _by_role(LOGIN, 403, ON_HOST)}  # a write form and its submit
WRITE = {"GET": _same(405), "POST": _by_role(LOGIN, 403, ON_HOST)}  # POST-only writes

MODEL_ENDPOINTS: dict[str, dict[str, dict[str, int | str]]] = {
    "index_view": READ, "details_view": READ, "export": READ, "ajax_lookup": READ,
    "create_view": FORM, "edit_view": FORM, "delete_view": WRITE, "action_view": WRITE,
    # No list column is editable: Flask-Admin answers 404 once the access check (and CSRF) let the request in.
    "ajax_update": {"GET": _same(405), "POST": _by_role(LOGIN, 403, 404)},
}

EXPECTED: dict[str, dict[str, dict[str, int | str]]] = {
    "static": PUBLIC_FILE,
    "admin.static": PUBLIC_FILE,
    "flask_activity.static": PUBLIC_FILE,  # the feed's live script
    "auth.root": {"GET": _same(HOME), "POST": _same(405)},
    "auth.login": {"GET": _same(200), "POST": _same(401)},  # POST: a wrong password
    "auth.logout": {"GET": _same(200), "POST": _same(LOGIN)},  # GET only asks; swept last
    # Ends the account's other sessions, keeps this one: anyone logged in, for their own account only.
    "auth.logout_elsewhere": {"GET": _same(405), "POST": _by_role(LOGIN, HOME, HOME)},
    "admin.index": READ,
    "activity.index": READ,
    "activity.feed_json": READ,
    "activity.person": READ,
    "activity.export_csv": READ,
    "reports.index": READ,
    "reports.download": READ,
    "reports.run_now": WRITE,
    "reports.set_recipients": WRITE,
    # A report file's signed link: the signature is the authority; the sweep's token is a forged one (404).
    "activity_links.report_file": {"GET": _same(404), "POST": _same(405)},
    # Each user's own display zone: viewers may set theirs too (the form names no user; see own_preference_only).
    "settings.display": {"GET": _by_role(LOGIN, 200, 200), "POST": _by_role(LOGIN, ON_HOST, ON_HOST)},
    # A scraper's bearer token or an admin's session; anonymous is 401 (not a login page: scrapers follow no form).
    "metrics.metrics": {"GET": _by_role(401, 403, 200), "POST": _same(405)},
    # Subscriptions: any reader keeps their own (POST included); another's is 404 to them, as if it did not exist.
    "subscriptions.index": READ,
    "subscriptions.deliveries": READ,
    "subscriptions.new": {"GET": _by_role(LOGIN, 200, 200), "POST": _by_role(LOGIN, ON_HOST, ON_HOST)},
    "subscriptions.detail": {"GET": _by_role(LOGIN, 404, 200), "POST": _same(405)},
    **{f"subscriptions.{name}": {"GET": _same(405), "POST": _by_role(LOGIN, 404, ON_HOST)}
       for name in ("test", "pause", "resume", "delete")},
    # One-click unsubscribe from an email: the signed token in the URL is the authority (no login, no CSRF).
    "activity_links.unsubscribe": {"GET": _same(200), "POST": _same(200)},
    **{f"{view}.{name}": access for view in MODEL_VIEWS for name, access in MODEL_ENDPOINTS.items()},
}
# The users view has no ajax-loaded field (the other two look up owners and bucketlists).
EXPECTED["users.ajax_lookup"] = {"GET": _by_role(LOGIN, 404, 404), "POST": _same(405)}

STATIC_FILES = {"static": "app.css", "admin.static": "bootstrap/bootstrap4/css/bootstrap.min.css",
                "flask_activity.static": "live.js"}
AJAX_FIELDS = {"items": "bucketlist", "bucketlists": "owner", "users": "email"}


def swept_rules(app: Flask) -> list[Rule]:
    """Every rule of the URL map, in a stable order; logging out comes last (it ends the session)."""
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint == "auth.logout", r.rule, r.endpoint))


def url_for_rule(rule: Rule, seeded: Seeded) -> str:
    """A concrete URL for ``rule``, filled from real rows: the live row's id, the real run, a real report name."""
    values = {"export_type": "csv", "run_id": seeded.run_id, "filename": STATIC_FILES.get(rule.endpoint),
              "sub_id": seeded.subs.get("victim" if rule.endpoint == "subscriptions.delete" else "live"),
              "token": seeded.unsubscribe if rule.endpoint == "activity_links.unsubscribe" else "forged-token",
              "who": seeded.ids["users"]["live"]}
    assert rule.arguments <= values.keys(), f"don't know how to fill {rule.rule}: extend url_for_rule"
    built = rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)
    assert built is not None, rule.rule
    path = built[1]
    view, _, name = rule.endpoint.partition(".")
    if name in ("details_view", "edit_view"):
        return f"{path}?id={seeded.ids[view]['live']}"
    if name == "ajax_lookup":
        return f"{path}?name={AJAX_FIELDS[view]}&query=Sec"
    if rule.endpoint == "reports.index":
        return f"{path}?report=items"
    return path


def post_data(endpoint: str, seeded: Seeded, action: str = "restore") -> dict[str, Any]:
    """Form data that changes something when an admin posts it with a valid token (no token included)."""
    view, _, name = endpoint.partition(".")
    ids = seeded.ids.get(view, {})
    live = seeded.ids["users"]["live"]
    if name == "create_view":
        return {"users": {"email": "created.by.sweep@example.com", "display_name": "Created", "role": "viewer",
                          "active": "y", "new_password": "a-long-password-1"},
                "bucketlists": {"title": "Created by sweep", "description": "", "owner": str(live)},
                "items": {"title": "Created by sweep", "bucketlist": str(seeded.ids["bucketlists"]["live"]),
                          "due_date": ""}}[view]
    if name == "edit_view":
        return {"users": {"email": OWNER_EMAIL, "display_name": "Edited by sweep", "role": "viewer", "active": "y"},
                "bucketlists": {"title": "Edited by sweep", "description": "", "owner": str(live)},
                "items": {"title": "Edited by sweep", "bucketlist": str(seeded.ids["bucketlists"]["live"]),
                          "due_date": ""}}[view]
    if name == "delete_view":
        return {"id": ids["victim"], "url": f"/admin/{view}/"}
    if name == "action_view":
        return {"action": action, "rowid": ids["deleted" if action == "restore" else "victim"],
                "url": f"/admin/{view}/"}
    if name == "ajax_update":
        return {"list_form_pk": ids["live"], "title": "Edited by sweep", "email": "edited@example.com"}
    if endpoint == "reports.set_recipients":
        return {"report": "items", "emails": "ops@example.com", "webhook_url": ""}
    if endpoint == "reports.run_now":
        return {"report": "items", "period": "today"}
    if endpoint == "subscriptions.new":
        return {"name": "Subscribed by sweep", "cadence": "hourly", "timezone": "UTC", "in_app": "y"}
    if endpoint == "settings.display":
        return dict(OWN_PREFERENCES)
    if endpoint == "auth.login":
        return {"email": "admin@example.com", "password": "wrong-password-123"}
    return {}
