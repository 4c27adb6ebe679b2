"""Open redirects: whatever ``next=`` or ``url=`` says, every Location the app sends stays on this host.

A Location passes when it is an absolute http(s) URL of this host, or a path starting with one ``/`` not followed
by ``/`` or ``\\``, with no whitespace, control character or backslash that a browser would drop or turn into a
slash; and resolving it against the page's URL, as a browser does, stays on this host.

Found by this module: Flask-Admin followed ``url=http:evil`` (urljoin() keeps it on this host) and Werkzeug sent
it as ``Location: http:///evil``, which browsers open on the host ``evil``; admin views now ignore a ``url=``
that is not a plain local path (``admin_app/admin/access.py``).
"""
from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

from tests.conftest import PASSWORD, Client
from tests.security.clients import is_logged_in, login_post
from tests.security.routes import post_data
from tests.security.rows import seed

EVIL = (
    "//evil.example", "\\\\evil.example", "/\\evil", " javascript:alert(1)", "javascript:alert(1)",
    "https:evil", "http:evil", "http:/evil.example", "https:/\\evil.example", "http://evil.example",
    "HTTP://EVIL.EXAMPLE", "%2F%2Fevil.example", "/%09/evil.example", "/\t/evil.example", "\t//evil.example",
    "/\n/evil.example", "///evil.example", "/\\/evil.example", "\\/evil.example", "evil.example",
    "http://localhost@evil.example", "http://evil.example\\@localhost/", "http://evil.example#@localhost/",
    "//evil%2Eexample", "data:text/html,<script>alert(1)</script>",
)
# Echoed verbatim, these would still be paths on this host (a browser does not decode %09 before parsing).
HARMLESS_IF_ECHOED = {"/%09/evil.example"}
BASES = {"http": "http://localhost/", "https": "https://localhost/"}


@pytest.fixture
def app_config(tmp_path) -> dict[str, Any]:
    return {"REPORTS_DIR": str(tmp_path / "reports")}


def off_host(location: str, base: str = BASES["http"]) -> str | None:
    """Why a browser at ``base`` told to go to ``location`` might leave this host; None if it stays."""
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in location):
        return "whitespace, control character or backslash"
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https") or parts.netloc != "localhost":
            return "another scheme or host"
    elif not location.startswith("/") or location[1:2] in ("/", "\\"):
        return "not a path starting with a single slash"
    if urlsplit(urljoin(base, location)).netloc != "localhost":
        return "resolves to another host"
    return None


def test_the_detector_flags_every_evil_value_echoed_as_a_location():
    assert [v for v in EVIL if off_host(v) is None] == sorted(HARMLESS_IF_ECHOED)
    assert off_host("/admin/items/?page=1") is None and off_host("http://localhost/admin/") is None


class Collector:
    """Redirect problems across many requests, reported together with the figure."""

    def __init__(self) -> None:
        self.redirects, self.problems = 0, []

    def check(self, source: str, evil: str, response: Any, base: str = BASES["http"], path: str | None = None) -> str:
        """The Location of ``response``, after recording whether it stays on this host (at ``path`` when given)."""
        if response.status_code not in (301, 302, 303, 307, 308):
            self.problems.append(f"{source} {evil!r}: {response.status_code}, expected a redirect")
            return ""
        self.redirects += 1
        location = response.headers["Location"]
        why = off_host(location, base)
        if why:
            self.problems.append(f"{source} {evil!r}: Location {location!r}: {why}")
        elif path is not None and urlsplit(location).path != path and evil not in HARMLESS_IF_ECHOED:
            self.problems.append(f"{source} {evil!r}: Location {location!r}, expected {path}")
        return location

    def assert_none(self, what: str) -> None:
        figure = f"{what}: {self.redirects} redirects, {len(self.problems)} problems"
        print(f"\n{figure}")
        assert not self.problems, figure + "\n" + "\n".join(self.problems)


def _form_next(page: str) -> str:
    match = re.search(r'<input[^>]*name="next"[^>]*>', page)
    assert match, "no next field in the login form"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return unescape(value.group(1)) if value else ""


def test_login_form_never_sends_the_browser_off_this_host(app, admin_user):
    seen = Collector()
    for evil in EVIL:
        client = app.test_client()
        page = client.get("/login", query_string={"next": evil}).get_data(as_text=True)
        carried = _form_next(page)  # what the browser posts back, as the user would submit it
        response = client.post("/login", data={"email": admin_user.email, "password": PASSWORD,
                                               "next": carried, "csrf_token": client.csrf()})
        seen.check("login", evil, response, path="/admin/")
    seen.assert_none(f"login next= x {len(EVIL)} values")


def test_logout_ignores_next_and_url(admin_client):
    seen = Collector()
    for evil in EVIL:
        response = admin_client.post("/logout", query_string={"next": evil, "url": evil},
                                     data={"next": evil, "url": evil, "csrf_token": admin_client.csrf()})
        seen.check("logout", evil, response, path="/login")
    seen.assert_none(f"logout x {len(EVIL)} values")


def test_login_redirect_of_an_anonymous_request_comes_back_to_the_same_local_page(app, admin_user):
    seen = Collector()
    for evil in EVIL:
        client = app.test_client()
        first = client.get("/admin/items/", query_string={"url": evil, "next": evil})
        location = seen.check("anonymous", evil, first, path="/login")
        nxt = parse_qs(urlsplit(location).query).get("next", [""])[0]
        assert nxt.startswith("/admin/items/?"), nxt
        page = client.get(location).get_data(as_text=True)
        response = client.post("/login", data={"email": admin_user.email, "password": PASSWORD,
                                               "next": _form_next(page), "csrf_token": client.csrf()})
        seen.check("login after anonymous", evil, response, path="/admin/items/")
    seen.assert_none(f"anonymous -> login -> back x {len(EVIL)} values")


def test_good_login_redirects_to_local_next_with_its_query(client, admin_user):
    r = login_post(client, admin_user.email, next="/admin/items/?page=1")
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    assert loc.netloc in ("", "localhost")
    assert (loc.path, loc.query) == ("/admin/items/", "page=1")
    assert is_logged_in(client)


LOCAL = "/admin/items/?page=1"  # a return URL Flask-Admin itself would carry: followed as is


def _admin_sources(client: Client, seeded: Any, url: str, base: str, report: bool = False) -> dict[str, Any]:
    """Every admin request that redirects to its ``url`` parameter (Flask-Admin's return URL), or might;
    with ``report``, also Run now (which always returns to the Reports page)."""
    ids = seeded.ids
    headers = {"Referer": urljoin(base, "/admin/")}  # over https Flask-WTF also wants a same-site Referer
    token = client.csrf()

    def post(path: str, data: dict[str, Any], **args: Any) -> Any:
        return client.post(path, base_url=base, headers=headers, query_string={"url": url, **args},
                           data={**data, "url": url, "csrf_token": token})

    def get(path: str, **args: Any) -> Any:
        return client.get(path, base_url=base, query_string={"url": url, **args})

    sources = {
        "create": post("/admin/items/new/", post_data("items.create_view", seeded)),
        "create, continue editing": post("/admin/items/new/", {**post_data("items.create_view", seeded),
                                                               "_continue_editing": "1"}),
        "edit": post("/admin/bucketlists/edit/", post_data("bucketlists.edit_view", seeded),
                     id=ids["bucketlists"]["live"]),
        "delete": post("/admin/items/delete/", post_data("items.delete_view", seeded)),
        "delete a missing row": post("/admin/users/delete/", {"id": "987654"}),
        "action restore": post("/admin/items/action/", post_data("items.action_view", seeded, "restore")),
        "action unknown": post("/admin/users/action/", {"action": "no-such-action", "rowid": "1"}),
        "details of a missing row": get("/admin/bucketlists/details/", id="987654"),
        "edit form of a missing row": get("/admin/items/edit/", id="987654"),
        "export of a refused type": get("/admin/items/export/xls/"),
    }
    if report:
        sources["report run now"] = post("/admin/reports/run", {"report": "items", "period": "today", "next": url})
    return sources


def _admin(app: Any, admin_user: Any) -> Client:
    client = app.test_client()
    assert client.login(admin_user.email).status_code == 302
    return client


@pytest.mark.parametrize("scheme", BASES)
def test_admin_views_never_redirect_off_this_host_whatever_url_says(app, make_user, admin_user, scheme):
    seeded, client, seen = seed(make_user, report=False), _admin(app, admin_user), Collector()
    for i, evil in enumerate(EVIL):
        for source, response in _admin_sources(client, seeded, evil, BASES[scheme], report=i < 3).items():
            seen.check(source, evil, response, BASES[scheme])
    seen.assert_none(f"admin url= over {scheme}: {len(EVIL)} values x 10 sources (and Run now x 3)")


@pytest.mark.parametrize("scheme", BASES)
def test_admin_views_return_to_a_local_url(app, make_user, admin_user, scheme):
    """The control: the URLs ignored above are not Flask-Admin's return URL switched off."""
    seeded, client, seen = seed(make_user, report=False), _admin(app, admin_user), Collector()
    for source, response in _admin_sources(client, seeded, LOCAL, BASES[scheme], report=True).items():
        location = seen.check(source, LOCAL, response, BASES[scheme])
        if source == "report run now":
            assert location == "/admin/reports/", location
        elif source == "create, continue editing":
            assert parse_qs(urlsplit(location).query)["url"] == [LOCAL], location
        else:
            assert location == LOCAL, (source, location)
    seen.assert_none(f"admin url={LOCAL} over {scheme}")


@pytest.mark.parametrize("url", ["http:evil", "http:/evil.example"])
def test_http_colon_return_url_is_ignored_not_sent_as_an_absolute_url(admin_client, make_user, url):
    """Regression: Flask-Admin took "http:evil" for a path on this host and Werkzeug sent it as "http:///evil",
    which a browser opens on the host "evil"."""
    seeded = seed(make_user, report=False)
    response = admin_client.post_form("/admin/items/delete/", {**post_data("items.delete_view", seeded), "url": url})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/items/"


@pytest.mark.parametrize("scheme", BASES)
def test_return_links_on_admin_pages_never_leave_this_host(app, make_user, admin_user, scheme):
    seeded, client = seed(make_user, report=False), _admin(app, admin_user)
    live = {"id": seeded.ids["items"]["live"]}
    pages = [("/admin/items/new/", {}), ("/admin/items/edit/", live), ("/admin/items/details/", live),
             ("/admin/users/new/", {})]
    problems, links = [], 0
    for value in (*EVIL, LOCAL):
        for page, args in pages:
            response = client.get(page, base_url=BASES[scheme], query_string={**args, "url": value})
            assert response.status_code == 200, (page, value, response.status_code)
            body = response.get_data(as_text=True)
            carried = [unescape(v) for _, v in re.findall(r'\b(href|action|formaction|src)="([^"]*)"', body)
                       if (value == LOCAL and unescape(v) == LOCAL) or "evil" in v.lower() or "alert(1)" in v]
            if value == LOCAL:
                assert carried, f"{page} does not link back to {LOCAL}"
            for target in carried:
                links += 1
                why = off_host(target, urljoin(BASES[scheme], page))
                if why:
                    problems.append(f"{page} url={value!r}: link {target!r}: {why}")
    print(f"\nreturn links over {scheme}: {len(pages)} pages x {len(EVIL) + 1} values: "
          f"{links} links carrying the value, {len(problems)} off this host")
    assert not problems, "\n".join(problems)
