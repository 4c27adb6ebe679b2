"""The access sweep: every rule of the URL map, by GET and POST, as anonymous, viewer and admin.

What each request must answer comes from ``tests.security.routes.EXPECTED``; a rule the table does not classify
fails the sweep. ``pytest tests/security/test_access_sweep.py -s -q`` prints the figure per database. Beside the
sweep: what a viewer's pages offer and serve, and a viewer's writes refused with either row action.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from tests.conftest import logged_in
from tests.security.routes import (
    EXPECTED,
    HOME,
    LOGIN,
    METHODS,
    METRICS_TOKEN,
    ON_HOST,
    ROLES,
    STATIC_FILES,
    post_data,
    swept_rules,
    url_for_rule,
)
from tests.security.rows import (
    OWN_COLUMNS,
    SECRET_ITEM,
    SECRET_LIST,
    SECRETS,
    changed,
    own_preference_only,
    seed,
    snapshot,
)

# Pages whose 200 answer must show the seeded rows to a viewer: proves the anonymous "no data" check looks at
# pages that do hold data.
VIEWER_SEES_DATA = {"admin.index", "activity.index", "activity.feed_json", "activity.export_csv",
                    "users.index_view", "users.details_view", "users.export", "bucketlists.index_view",
                    "bucketlists.details_view", "bucketlists.export", "items.index_view", "items.details_view",
                    "items.export", "bucketlists.ajax_lookup", "items.ajax_lookup"}


@pytest.fixture
def app_config(tmp_path) -> dict[str, Any]:
    return {"REPORTS_DIR": str(tmp_path / "reports"), "METRICS_ENABLED": True, "METRICS_TOKEN": METRICS_TOKEN}


# conftest's Client runs every request in its own app context (own ``g``, own DB session);
# the access tests are only meaningful if that holds, so check it first.


def test_requests_do_not_share_the_login_of_another_client(app, admin_client):
    """Guards the isolation above: a second, anonymous client is not served as the admin."""
    assert admin_client.get("/admin/").status_code == 200
    assert app.test_client().get("/admin/").status_code == 302


def unclassified(app: Flask) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()} - EXPECTED.keys()


def test_every_rule_of_the_url_map_is_classified(app):
    assert unclassified(app) == set(), "add these endpoints to EXPECTED in tests/security/routes.py"
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert EXPECTED.keys() - endpoints == set(), "EXPECTED lists endpoints the app no longer has"
    for rule in app.url_map.iter_rules():
        assert rule.methods <= {"GET", "HEAD", "OPTIONS", "POST"}, (rule.rule, rule.methods)
        for method in METHODS:  # the table's 405s are exactly the methods the rule refuses
            refused = set(EXPECTED[rule.endpoint][method].values()) == {405}
            assert refused == (method not in rule.methods), (rule.endpoint, method)


def test_a_new_rule_the_table_does_not_classify_fails_the_sweep(app):
    app.add_url_rule("/admin/forgotten", "forgotten", lambda: "data")
    assert unclassified(app) == {"forgotten"}


def _problem(response: Any, expected: int | str, method: str, url: str) -> str | None:
    """Why ``response`` is not the expected outcome, or None."""
    status = response.status_code
    if expected not in (LOGIN, HOME, ON_HOST):
        return None if status == expected else f"{status}, expected {expected}"
    if status != 302:
        return f"{status}, expected {expected}"
    location = response.headers["Location"]
    parts = urlsplit(location)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/") or parts.path[1:2] in ("/", "\\"):
        return f"redirect off this host: {location}"
    if expected == HOME and parts.path != "/admin/":
        return f"redirect to {location}, expected {expected}"
    if expected == LOGIN:
        nxt = parse_qs(parts.query).get("next", [""])[0]
        wanted = url if method == "GET" else ""
        if parts.path != "/login" or nxt != wanted:
            return f"redirect to {location}, expected /login?next={wanted}"
    return None


def _anonymous_leak(response: Any, endpoint: str) -> str | None:
    body = response.get_data(as_text=True)
    shown = [s for s in SECRETS if s in body]
    if shown:
        return f"shows {shown}"
    if endpoint not in STATIC_FILES and (response.mimetype in ("application/json", "text/csv")
                                         or response.headers.get("Content-Disposition")):
        return f"serves {response.mimetype} {response.headers.get('Content-Disposition', '')}"
    return None


def test_sweep_every_rule_as_every_role_finds_no_leak(app, make_user, admin_user, viewer_user):
    seeded = seed(make_user)
    rules = swept_rules(app)
    clients = {"anonymous": app.test_client(), "viewer": logged_in(app, viewer_user),
               "admin": logged_in(app, admin_user)}
    leaks: list[str] = []
    shows_data: dict[str, set[str]] = {role: set() for role in ROLES}
    requests = 0
    for role in ROLES:  # the admin last: its writes must not hide what the others might have changed
        client = clients[role]
        token = client.csrf()  # a valid token: the access check, not CSRF, is what must refuse
        before = snapshot(app)
        for method in METHODS:
            for rule in rules:  # logging out is the last rule: it ends the session
                url = url_for_rule(rule, seeded)
                if method == "GET":
                    response = client.get(url)
                else:
                    response = client.post(url, data={**post_data(rule.endpoint, seeded), "csrf_token": token})
                requests += 1
                expected = EXPECTED[rule.endpoint][method][role]
                problem = _problem(response, expected, method, url)
                if role == "anonymous":
                    problem = problem or _anonymous_leak(response, rule.endpoint)
                if problem:
                    leaks.append(f"{role} {method} {url}: {problem}")
                if response.status_code == 200 and any(s in response.get_data(as_text=True) for s in SECRETS):
                    shows_data[role].add(rule.endpoint)
        after = snapshot(app)
        written = changed(before, after)
        if role == "admin":  # control: the same requests with an admin's session do write
            assert written == {"users", "bucketlists", "items", "report_runs", "files", "activity_subscriptions",
                               "activity_report_recipients"}, written
        elif role == "viewer":  # their own display zone, and nothing else (the control that the POST went in)
            if not own_preference_only(before, after, viewer_user.id):
                leaks.append(f"{role} changed {sorted(written)}; expected only their own {sorted(OWN_COLUMNS)}")
        elif written:
            leaks.append(f"{role} changed {sorted(written)}")

    figure = (f"{len(rules)} rules x {len(ROLES)} roles x {len(METHODS)} methods = {requests} requests: "
              f"{len(leaks)} leaks")
    print(f"\naccess sweep: {figure}")
    assert not leaks, figure + "\n" + "\n".join(leaks)
    assert requests == len(rules) * 6 and {r.endpoint for r in rules} == EXPECTED.keys()
    assert shows_data["viewer"] >= VIEWER_SEES_DATA, VIEWER_SEES_DATA - shows_data["viewer"]
    assert shows_data["anonymous"] == set()


# --- what a viewer's pages offer and serve --------------------------------------------------------------


def test_viewer_can_read_dashboard_lists_details_activity_and_exports(viewer_client, make_user):
    ids = seed(make_user, report=False).ids
    html_pages = ["/admin/", "/admin/activity/", "/admin/users/", "/admin/bucketlists/", "/admin/items/",
                  f"/admin/users/details/?id={ids['users']['live']}",
                  f"/admin/bucketlists/details/?id={ids['bucketlists']['live']}",
                  f"/admin/items/details/?id={ids['items']['live']}"]
    for url in html_pages:
        r = viewer_client.get(url, buffered=True)
        assert r.status_code == 200, (url, r.status_code)
        assert r.mimetype == "text/html"
    assert SECRET_ITEM in viewer_client.get("/admin/items/").get_data(as_text=True)
    details = viewer_client.get(f"/admin/bucketlists/details/?id={ids['bucketlists']['live']}")
    assert SECRET_LIST in details.get_data(as_text=True)

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
    ids = seed(make_user, report=False).ids
    for view in ("users", "bucketlists", "items"):
        body = viewer_client.get(f"/admin/{view}/").get_data(as_text=True)
        assert f"/admin/{view}/new/" not in body
        assert f"/admin/{view}/edit/" not in body
        assert f"/admin/{view}/delete/" not in body
        assert f"/admin/{view}/action/" not in body
    details = viewer_client.get(f"/admin/items/details/?id={ids['items']['live']}").get_data(as_text=True)
    assert "/admin/items/edit/" not in details and "/admin/items/delete/" not in details


def test_viewer_post_to_every_write_endpoint_is_refused_and_changes_nothing(app, viewer_client, make_user):
    """The sweep posts the restore action; this also posts delete, to every admin write endpoint."""
    seeded = seed(make_user, report=False)
    before = snapshot(app)
    refused = []
    for rule in swept_rules(app):
        if not rule.rule.startswith("/admin") or "POST" not in rule.methods or rule.endpoint in (
                "settings.display", "subscriptions.new"):
            continue  # their own display zone and their own new subscriptions: allowed
        url = url_for_rule(rule, seeded)
        actions = ("delete", "restore") if rule.endpoint.endswith(".action_view") else ("restore",)
        # Another user's subscription is 404 to them, as if it did not exist; the admin's writes are 403.
        refusal = 404 if rule.endpoint.startswith("subscriptions.") else 403
        for action in actions:
            r = viewer_client.post_form(url, post_data(rule.endpoint, seeded, action))
            assert r.status_code == refusal, (url, action, r.status_code)
        refused.append(url)
    assert len(refused) == 21
    after = snapshot(app)
    assert after == before
