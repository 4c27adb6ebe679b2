"""XSS: script and attribute payloads stored in every text column and passed in every parameter never come back
as markup. An HTML page may show a payload only escaped; any other answer is JSON, CSV or plain text with nosniff.

The payloads are stored through the ORM (as rows from the CLI, a bulk load or another app would arrive) and
through the admin's own forms; the pages are fetched as an admin whose email is itself a payload (the navbar
shows it on every page).
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import func, select

from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, User
from flask_activity.audit import acting_as
from flask_activity.reporting.models import ReportRun
from tests.conftest import PASSWORD, Client

MARKUP = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'-alert(1)-'",
    "</title><svg onload=alert(1)>",
    '" autofocus onfocus="alert(1)',
    "</textarea><script>alert(1)</script>",
)
URL = "javascript:alert(1)"  # harmless as text; must never become a link target
PAYLOADS = (*MARKUP, URL)
# Parameters and form fields carry the markup payloads in two bundles: each payload must still come back escaped
# (checked one by one), in fewer requests.
BUNDLES = ("".join(MARKUP[:3]), "".join(MARKUP[3:]), URL)
XSS_ADMIN = "<script>alert(1)</script>@xss.example"
DAY = datetime(2026, 3, 2, tzinfo=UTC)
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc"}
SAFE_OTHER_TYPES = {"application/json", "text/plain", "text/csv"}
STATIC_NO_OP = "javascript:void(0)"  # Flask-Admin's own tab links (list.html, edit.html): no data, blocked by CSP


@pytest.fixture
def app_config(tmp_path) -> dict[str, Any]:
    return {"REPORTS_DIR": str(tmp_path / "reports")}


@pytest.fixture
def xss_client(app: Flask) -> Client:
    """An admin whose own email is a script payload, logged in through the real form."""
    admin = User(email=XSS_ADMIN, display_name=MARKUP[1], role="admin")
    admin.set_password(PASSWORD, app.config["PASSWORD_METHOD"])
    db.session.add(admin)
    db.session.commit()
    client = app.test_client()
    assert client.login(XSS_ADMIN).status_code == 302
    return client


def seed_payloads() -> dict[str, list[int]]:
    """Every payload in every text column of every model and of the report runs; returns the ids per view."""
    admin_id = db.session.scalar(select(User.id).where(User.email == XSS_ADMIN))
    ids: dict[str, list[int]] = {"users": [], "bucketlists": [], "items": []}
    with acting_as(admin_id):
        for i, p in enumerate(PAYLOADS):
            user = User(email=f"{p}{i}@xss.example", display_name=p, role="viewer")
            bucketlist = Bucketlist(title=p, description=p, owner=user)
            item = Item(title=p, bucketlist=bucketlist)
            db.session.add_all([user, bucketlist, item])
            db.session.flush()
            ids["users"].append(user.id)
            ids["bucketlists"].append(bucketlist.id)
            ids["items"].append(item.id)
            db.session.add(ReportRun(report=p, params={"model": p}, period_start=DAY, period_end=DAY + timedelta(1),
                                     status="failed", error=p, path=p, host=p, finished_at=DAY))
        db.session.commit()
        gone = db.session.get(Item, ids["items"][0])
        gone.soft_delete()
        db.session.commit()
    # The latest run of a real report failed with every payload as its error: the dashboard alerts with it.
    db.session.add(ReportRun(report="items", params={}, period_start=DAY, period_end=DAY + timedelta(1),
                             status="failed", error=" ".join(PAYLOADS), finished_at=datetime.now(UTC)))
    db.session.commit()
    return ids


class _Dangers(HTMLParser):
    """What a browser would run in a page: event-handler attributes, script URLs, inline scripts that alert."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            value = (value or "").strip().lower().replace("\t", "").replace("\n", "")
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if (name in URL_ATTRIBUTES and value.startswith(("javascript:", "vbscript:", "data:text/html"))
                    and value != STATIC_NO_OP):
                self.found.append(f"<{tag} {name}={value[:40]!r}>")
        self.in_script = self.in_script or tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script and "alert(" in data:
            self.found.append(f"inline script {data.strip()[:60]!r}")


class Pages:
    """Fetches pages and records every way a payload came back live."""

    def __init__(self) -> None:
        self.checked = 0
        self.problems: list[str] = []
        self.escaped_on: dict[str, set[str]] = {p: set() for p in MARKUP}

    def check(self, what: str, response: Any) -> Any:
        self.checked += 1
        body = response.get_data(as_text=True)
        if response.status_code >= 500:
            self.problems.append(f"{what}: {response.status_code}")
        if response.mimetype != "text/html":
            if response.mimetype not in SAFE_OTHER_TYPES or response.headers.get("X-Content-Type-Options") != "nosniff":
                self.problems.append(f"{what}: served as {response.mimetype} without nosniff")
            return response
        for p in MARKUP:
            if p in body:
                self.problems.append(f"{what}: raw {p!r}")
            if str(escape(p)) in body:
                self.escaped_on[p].add(what.split("?")[0])
        parser = _Dangers()
        parser.feed(body)
        self.problems.extend(f"{what}: {found}" for found in parser.found)
        return response

    def assert_clean(self) -> None:
        figure = f"{self.checked} responses x {len(PAYLOADS)} payloads: {len(self.problems)} live payloads"
        print(f"\nxss: {figure}")
        assert not self.problems, figure + "\n" + "\n".join(self.problems[:50])


def _list_params(app: Flask, view: str, p: str) -> list[dict[str, str]]:
    """The list page's parameters, each carrying ``p``: search, every filter, sort and paging, unknown names."""
    model_view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", None) == view)
    every_filter = {f"flt{i}_{i}": p for i in range(len(model_view._filters))}
    return [{"search": p}, every_filter, {"sort": p, "desc": p, "page": p, "page_size": p}, {p: p}, {"url": p}]


def test_stored_payloads_never_come_back_as_markup(app, xss_client):
    ids = seed_payloads()
    pages = Pages()
    fixed = ["/admin/", "/admin/?exact=1", "/admin/activity/", "/admin/activity/?limit=2", "/admin/reports/",
             "/admin/reports/?report=items", "/admin/activity/feed.json", "/admin/activity/export.csv", "/logout"]
    for view in ids:
        fixed += [f"/admin/{view}/", f"/admin/{view}/new/", f"/admin/{view}/export/csv/"]
        for pk in ids[view]:
            fixed += [f"/admin/{view}/details/?id={pk}", f"/admin/{view}/edit/?id={pk}"]
    for i, p in enumerate(PAYLOADS):
        fixed.append(f"/admin/activity/?actor={quote(f'{p}{i}@xss.example')}")
        fixed.append(f"/admin/bucketlists/ajax/lookup/?name=owner&query={quote(p[:5])}")
    fixed.append(f"/admin/activity/?actor={quote(XSS_ADMIN)}")
    for url in fixed:
        response = pages.check(url, xss_client.get(url))
        assert response.status_code == 200, (url, response.status_code)
    pages.assert_clean()
    # The payloads were on the pages, escaped: the checks above looked at real content.
    for p in MARKUP:
        assert {"/admin/", "/admin/activity/", "/admin/items/", "/admin/items/details/", "/admin/items/edit/",
                "/admin/users/", "/admin/bucketlists/details/", "/admin/reports/"} <= pages.escaped_on[p], p


def test_payloads_in_parameters_never_come_back_as_markup(app, xss_client):
    ids = seed_payloads()
    pages = Pages()
    anonymous = app.test_client()
    for p in BUNDLES:
        for name in ("since", "until", "model", "action", "actor", "cursor", "limit"):
            for path in ("/admin/activity/", "/admin/activity/feed.json", "/admin/activity/export.csv"):
                pages.check(f"{path}?{name}=", xss_client.get(path, query_string={name: p}))
        for view in ids:
            for params in _list_params(app, view, p):
                pages.check(f"/admin/{view}/?{','.join(params)[:30]}",
                            xss_client.get(f"/admin/{view}/", query_string=params, follow_redirects=True))
            for page, args in (("new/", {}), ("edit/", {"id": ids[view][1]}), ("details/", {"id": ids[view][1]})):
                pages.check(f"/admin/{view}/{page}?url=", xss_client.get(f"/admin/{view}/{page}",
                                                                        query_string={**args, "url": p}))
            pages.check(f"/admin/{view}/details/?id=", xss_client.get(f"/admin/{view}/details/",
                                                                      query_string={"id": p}, follow_redirects=True))
            pages.check(f"/admin/{view}/ajax/lookup/", xss_client.get(f"/admin/{view}/ajax/lookup/",
                                                                      query_string={"name": p, "query": p}))
        pages.check("/admin/items/ajax/lookup/?query=", xss_client.get(
            "/admin/items/ajax/lookup/", query_string={"name": "bucketlist", "query": p}))
        pages.check("/admin/reports/?report=", xss_client.get("/admin/reports/", query_string={"report": p}))
        pages.check("/admin/?exact=", xss_client.get("/admin/", query_string={"exact": p}))
        pages.check("/admin/<p> (404)", xss_client.get("/admin/" + quote(p)))
        pages.check("/login?next=", anonymous.get("/login", query_string={"next": p}))
        pages.check("/admin/?<p> (anonymous)", anonymous.get("/admin/", query_string={p: p}))
    pages.assert_clean()
    assert pages.checked == 57 * len(BUNDLES)


def test_payloads_posted_through_the_admin_forms_and_actions_never_come_back_as_markup(app, xss_client):
    ids = seed_payloads()
    pages = Pages()
    anonymous = app.test_client()
    for i, p in enumerate(BUNDLES):
        token = xss_client.csrf()

        def post(url: str, data: dict[str, Any], token: str = token) -> Any:
            return xss_client.post(url, data={**data, "csrf_token": token}, follow_redirects=True)

        # Stored through the real write path, then shown with the flash message of the save.
        pages.check("create item", post("/admin/items/new/", {"title": p, "bucketlist": str(ids["bucketlists"][0])}))
        pages.check("create bucketlist", post("/admin/bucketlists/new/", {"title": p, "description": p,
                                                                          "owner": str(ids["users"][1])}))
        pages.check("edit bucketlist", post(f"/admin/bucketlists/edit/?id={ids['bucketlists'][i]}",
                                            {"title": p, "description": p, "owner": str(ids["users"][1])}))
        pages.check("create user", post("/admin/users/new/", {"email": f"{p}@form{i}.example", "display_name": p,
                                                              "role": "viewer", "active": "y",
                                                              "new_password": "a-long-password-1"}))
        # Refused input echoed back in the form or a flash message.
        pages.check("create user, bad role", post("/admin/users/new/", {"email": p, "role": p, "new_password": p}))
        pages.check("create item, bad bucketlist", post("/admin/items/new/", {"title": p, "bucketlist": p,
                                                                             "due_date": p}))
        pages.check("edit deleted item", post(f"/admin/items/edit/?id={ids['items'][0]}",
                                              {"title": p, "bucketlist": str(ids["bucketlists"][1])}))
        pages.check("delete", post("/admin/items/delete/", {"id": p, "url": p}))
        pages.check("action", post("/admin/items/action/", {"action": p, "rowid": p, "url": p}))
        pages.check("restore", post("/admin/items/action/", {"action": "restore", "rowid": ids["items"][0]}))
        pages.check("run now", post("/admin/reports/run", {"report": p, "period": p}))
        pages.check("run now, bad period", post("/admin/reports/run", {"report": "items", "period": p}))
        pages.check("failed login", anonymous.post("/login", data={"email": p, "password": p, "next": p,
                                                                   "csrf_token": anonymous.csrf()}))
        pages.check("forged form", xss_client.post("/admin/items/new/", data={"title": p, "csrf_token": p}))
    pages.assert_clean()
    db.session.rollback()
    for model, seeded in ((Item, ids["items"]), (Bucketlist, ids["bucketlists"])):  # the forms did store them
        created = db.session.scalar(select(func.count()).where(model.title.in_(BUNDLES), model.id.not_in(seeded)))
        assert created == len(BUNDLES), (model.__name__, created)
