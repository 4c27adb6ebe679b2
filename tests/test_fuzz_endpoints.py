"""Every endpoint that takes input, fuzzed over HTTP: never a 5xx; bad input is a 400 with a message.

One app per database for the module (function-scoped fixtures would be set up once for all of hypothesis'
examples, which its health check refuses), seeded with rows whose labels and emails start formulas.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from admin_app.config import TestConfig
from admin_app.extensions import db
from flask_activity import activity
from flask_activity.reporting.periods import PERIODS
from reports import builtin
from tests.conftest import Client, logged_in
from tests.fuzzing import (
    ACTION_VALUES,
    ACTOR_VALUES,
    MODEL_VALUES,
    WEB_CHARS,
    assert_formula_safe_csv,
    count_response,
    cursor_tokens,
    date_texts,
    fuzz_app,
    number_texts,
    scaled,
)

FEED = "/admin/activity/feed.json"
VIEWS = ("users", "bucketlists", "items")


@dataclass
class Site:
    app: Flask
    admin: Client
    viewer: Client
    csrf: str  # the admin's CSRF token, valid for its whole session
    viewer_csrf: str
    filter_keys: dict[str, list[str]]  # model view endpoint -> the names its flt<n>_<name> arguments use
    logins: frozenset[int]  # ids of the users the clients are logged in as: never edited or deleted here

    def spares(self, view: str, pk: str | None) -> bool:
        """False for a write that would demote, deactivate or delete a logged-in client's user."""
        return view != "users" or activity.parse_id(pk) not in self.logins


@pytest.fixture(scope="module")
def site(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with fuzz_app(database_url, tmp_path_factory.mktemp("fuzz-reports")) as (app, users):
        app.test_client_class = Client
        admin, viewer = (logged_in(app, user) for user in users)
        views = {v.endpoint: v for v in app.extensions["admin"][0]._views if v.endpoint in VIEWS}
        yield Site(app, admin, viewer, admin.csrf(), viewer.csrf(),
                   {name: sorted(view._filter_args) for name, view in views.items()},
                   frozenset(user.id for user in users))


def drop_flashes(client: Client) -> None:
    """Forget flashed messages nobody rendered (a redirect not followed), so the session cookie stays small."""
    with client.session_transaction() as session:
        session.pop("_flashes", None)


def nul(*values: Any) -> tuple[int, ...]:
    """(400,) if a key or value holds a NUL character, which every page refuses with a message; else ()."""
    def has(value: Any) -> bool:
        if isinstance(value, str):
            return "\x00" in value
        if isinstance(value, dict):
            return any(has(k) or has(v) for k, v in value.items())
        return isinstance(value, (list, tuple)) and any(map(has, value))
    return (400,) if has(values) else ()


def over_cap(args: list[tuple[str, str]]) -> tuple[int, ...]:
    """(400,) if the query string is longer than MAX_QUERY_STRING_BYTES, which every page refuses saying the cap."""
    return (400,) if len(urlencode(args).encode()) > TestConfig.MAX_QUERY_STRING_BYTES else ()


def check(response: Any, allowed: tuple[int, ...], path: str) -> str:
    """Count the response; it must have an allowed status, and a 400 must say what to fix. Returns the body."""
    count_response(response.status_code)
    body = response.get_data(as_text=True)
    # Every request gives its connection back (the module's own session may hold one): a leak starves the pool.
    assert db.engine.pool.checkedout() <= 1, (path, response.status_code, "a request kept its connection")
    assert response.status_code < 500, (path, response.status_code, body[:2000])
    assert response.status_code in allowed, (path, response.status_code, body[:500])
    if response.status_code == 400:
        if path.endswith(".json"):
            error = response.get_json()["error"]
            assert isinstance(error, str) and error.strip()
        else:
            assert body.strip()
    return body


# --- the activity feed: JSON, HTML, CSV -------------------------------------------------------------------

FEED_VALUES = {"since": date_texts(), "until": date_texts(), "model": MODEL_VALUES, "action": ACTION_VALUES,
               "actor": ACTOR_VALUES, "limit": number_texts(), "cursor": cursor_tokens(),
               "exact": st.text(WEB_CHARS, max_size=3)}
FEED_ARGS = st.lists(st.sampled_from(sorted(FEED_VALUES)).flatmap(lambda k: st.tuples(st.just(k), FEED_VALUES[k])),
                     max_size=7)


# Display zones (APP_TIMEZONE, what dates without an offset are read in) at both ends of the offsets, and odd ones.
ZONES = st.sampled_from(("UTC", "Europe/Paris", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/St_Johns",
                         "Asia/Kathmandu"))


@contextmanager
def display_zone(site: Site, zone: str) -> Iterator[None]:
    site.app.config["APP_TIMEZONE"] = zone
    try:
        yield
    finally:
        site.app.config["APP_TIMEZONE"] = "UTC"


@settings(max_examples=scaled(150))
@given(args=FEED_ARGS, zone=ZONES)
@example(args=[("actor", "9" * 5000)], zone="UTC")
@example(args=[("since", "9998-12-31T23:59:59-23:59"), ("until", "1900-01-01T00:00+23:59")], zone="UTC")
@example(args=[("since", "9998-12-31 23:59"), ("until", "1900-01-01")], zone="Pacific/Kiritimati")
def test_feed_json_is_200_or_400_with_an_error_message(site, args, zone):
    with display_zone(site, zone):
        response = site.viewer.get(FEED, query_string=args)
    check(response, (200, 400), FEED)
    if response.status_code == 200:
        body = response.get_json()
        keys = [(datetime.fromisoformat(e["at"]), e["model"], e["id"], activity.ACTIONS.index(e["action"]))
                for e in body["events"]]
        assert keys == sorted(keys, reverse=True) and len(keys) <= activity.MAX_LIMIT


@settings(max_examples=scaled(80))
@given(path=st.sampled_from(("/admin/activity/", "/admin/activity/export.csv", "/admin/")), args=FEED_ARGS, zone=ZONES)
def test_activity_page_dashboard_and_export_are_200_or_400(site, path, args, zone):
    with display_zone(site, zone):
        response = site.viewer.get(path, query_string=args)
    body = check(response, (200, 400), path)
    if response.status_code == 200 and path.endswith(".csv"):
        rows = assert_formula_safe_csv(body)
        assert tuple(rows[0]) == activity.EVENT_COLUMNS


RAW_PIECES = st.sampled_from(("since", "until", "model", "action", "actor", "limit", "cursor", "sort", "flt0_0",
                              "search", "page", "id", "report", "=", "&", ";", "%", "%00", "%FF", "%C3", "%2",
                              "%2B01:00", "+", "item", "2026-03-28", "T10:00", "[]", "%E2%80%AE"))
RAW_QUERIES = st.lists(RAW_PIECES | st.text(WEB_CHARS, max_size=3), max_size=12).map("".join)


@settings(max_examples=scaled(100))
@given(path=st.sampled_from((FEED, "/admin/activity/", "/admin/activity/export.csv", "/admin/items/",
                             "/admin/users/details/", "/admin/reports/")), raw=RAW_QUERIES)
@example(path=FEED, raw="since=%FF%FE&until=%")
def test_raw_query_strings_never_break_a_page(site, path, raw):
    """Malformed percent escapes, invalid UTF-8, NUL, separators: whatever the browser sends."""
    response = site.viewer.get(path, query_string=raw)
    check(response, (200, 302, 400), path)
    drop_flashes(site.viewer)


# --- Flask-Admin lists, exports, details and edit pages ---------------------------------------------------

LIST_ODD_KEYS = st.sampled_from(("self", "endpoint", "export_type", "_method", "_external", "_anchor", "values",
                                 "url", "flt", "flt_", "fltx_y", "flt0", "flt99999999999999999999_x"))
FILTER_VALUES = st.one_of(
    st.sampled_from(("hide", "include", "only", "system", "admin@example.com", "=hyperlink@example.com", "1", "0",
                     "2026-03-28", "2026-03-28 to 2026-03-29", "2026-03-28 00:00 to 2026-03-28 12:00", "y", "")),
    st.tuples(date_texts(), st.just(" to "), date_texts()).map("".join),
    ACTOR_VALUES, number_texts(), st.text(WEB_CHARS, max_size=20))


@st.composite
def list_args(draw: Any, filter_keys: list[str]) -> list[tuple[str, str]]:
    """Flask-Admin list arguments: sort, desc, search, page, page_size, filters; valid, odd and repeated."""
    args = []
    for _ in range(draw(st.integers(0, 6))):
        key = draw(st.sampled_from(("sort", "desc", "search", "page", "page_size", "flt", "flt", "odd")))
        if key == "flt":
            name = draw(st.sampled_from(filter_keys) | st.text(WEB_CHARS, max_size=6))
            args.append((f"flt{draw(st.integers(0, 12))}_{name}", draw(FILTER_VALUES)))
        elif key == "odd":
            args.append((draw(LIST_ODD_KEYS), draw(st.text(WEB_CHARS, max_size=6))))
        elif key == "search":
            args.append((key, draw(st.sampled_from(("=", "%", "_", "\\", "^item", "=plain", "")) |
                                   st.text(WEB_CHARS, max_size=20))))
        else:
            args.append((key, draw(number_texts())))
    return args


@settings(max_examples=scaled(90))
@given(view=st.sampled_from(VIEWS), export=st.booleans(), admin=st.booleans(), zone=ZONES, data=st.data())
@example(view="items", export=False, admin=False, zone="UTC", data=None)
def test_model_lists_and_their_csv_exports_are_200_whatever_the_arguments(site, view, export, admin, zone, data):
    args = data.draw(list_args(site.filter_keys[view]), label="args") if data else [("self", "x"), ("values", "1")]
    path = f"/admin/{view}/export/csv/" if export else f"/admin/{view}/"
    with display_zone(site, zone):
        response = (site.admin if admin else site.viewer).get(path, query_string=args)
    refusable = any(k.startswith("flt") for k, _ in args)  # a filter value it cannot use is a 400 saying why
    body = check(response, (200, *nul(args), *over_cap(args), *((400,) if refusable else ())), path)
    if response.status_code == 400 and not nul(args) and not over_cap(args):
        # the list again, the reason beside its filter; an export names the filter and the reason in its message
        assert ('class="invalid-feedback d-block filter-error"' in body) if not export else ": " in body, body[:500]
    if export and response.status_code == 200:
        assert_formula_safe_csv(body)


@settings(max_examples=scaled(100))
@given(view=st.sampled_from(VIEWS), page=st.sampled_from(("details", "edit")), admin=st.booleans(),
       pk=number_texts() | st.sampled_from(("1", "2", "3", "01", " 2", "2 ")), url=st.none() | st.text(WEB_CHARS,
                                                                                                 max_size=12))
@example(view="items", page="details", admin=False, pk="9" * 5000, url=None)
def test_details_and_edit_pages_take_any_id(site, view, page, admin, pk, url):
    client = site.admin if admin else site.viewer
    args = [("id", pk)] + ([("url", url)] if url is not None else [])
    response = client.get(f"/admin/{view}/{page}/", query_string=args)
    check(response, ((200, 302) if admin or page == "details" else (403,)) + nul(args), page)
    drop_flashes(client)


@settings(max_examples=scaled(60))
@given(view=st.sampled_from(VIEWS), name=st.sampled_from(("owner", "bucketlist", "")) | st.text(WEB_CHARS, max_size=6),
       query=st.none() | st.sampled_from(("", "%", "_", "\\", "=")) | st.text(WEB_CHARS, max_size=10),
       offset=st.none() | number_texts(), limit=st.none() | number_texts())
@example(view="items", name="bucketlist", query="", offset="9" * 30, limit=None)
def test_ajax_lookups_are_200_or_404(site, view, name, query, offset, limit):
    given = (("name", name), ("query", query), ("offset", offset), ("limit", limit))
    args = [(k, v) for k, v in given if v is not None]
    response = site.admin.get(f"/admin/{view}/ajax/lookup/", query_string=args)
    check(response, (200, 404, *nul(args), *over_cap(args)), "ajax")


FORM_VALUES = {
    "title": st.sampled_from(("Kyoto", "=cmd", "")) | st.text(WEB_CHARS, max_size=40) | st.just("x" * 201),
    "description": st.text(WEB_CHARS, max_size=40),
    "bucketlist": st.sampled_from(("1", "2", "3", "__None")) | number_texts(),
    "owner": st.sampled_from(("1", "2", "3", "__None")) | number_texts(),
    "done": st.sampled_from(("y", "", "false", "0")) | st.text(WEB_CHARS, max_size=3),
    "due_date": date_texts(),
    "email": st.sampled_from(("new@example.com", "ADMIN@example.com", "a" * 300 + "@x.io")) | st.text(WEB_CHARS,
                                                                                                   max_size=30),
    "display_name": st.text(WEB_CHARS, max_size=30) | st.just("n" * 121),
    "role": st.sampled_from(("admin", "viewer", "root", "")),
    "active": st.sampled_from(("y", "")),
    "new_password": st.sampled_from(("", "short", "long-enough-1")) | st.text(WEB_CHARS, max_size=12),
}
FORM_FIELDS = {"items": ("title", "bucketlist", "done", "due_date"),
               "bucketlists": ("title", "description", "owner"),
               "users": ("email", "display_name", "role", "active", "new_password")}


@settings(max_examples=scaled(80))
@given(view=st.sampled_from(VIEWS), pk=st.none() | st.sampled_from(("1", "2", "4", "8")) | number_texts(),
       data=st.data())
def test_create_and_edit_forms_are_200_or_a_redirect(site, view, pk, data):
    assume(site.spares(view, pk))
    form = {name: data.draw(st.none() | FORM_VALUES[name], label=name) for name in FORM_FIELDS[view]}
    form = {k: v for k, v in form.items() if v is not None} | {"csrf_token": site.csrf}
    path = f"/admin/{view}/new/" if pk is None else f"/admin/{view}/edit/"
    response = site.admin.post(path, data=form, query_string=[("id", pk)] if pk is not None else [])
    check(response, (200, 302, *nul(form, pk)), path)
    drop_flashes(site.admin)


@settings(max_examples=scaled(40))
@given(view=st.sampled_from(VIEWS), action=st.none() | st.sampled_from(("delete", "restore", "")) | st.text(
    WEB_CHARS, max_size=8), ids=st.lists(st.sampled_from(("1", "2", "5")) | number_texts(), max_size=4))
@example(view="items", action="restore", ids=["9" * 5000, "2"])
def test_list_actions_and_delete_take_any_ids(site, view, action, ids):
    """With selected (delete, restore) and the row Delete button: an id that is no row's id is ignored."""
    assume(all(site.spares(view, pk) for pk in ids))
    if action is None:
        form = {"id": ids[0] if ids else "", "url": f"/admin/{view}/"}
        path = f"/admin/{view}/delete/"
    else:
        form, path = {"action": action, "rowid": ids}, f"/admin/{view}/action/"
    response = site.admin.post(path, data={**form, "csrf_token": site.csrf})
    check(response, (200, 302, *nul(form)), path)
    drop_flashes(site.admin)


# --- reports ----------------------------------------------------------------------------------------------

REPORT_NAMES = (st.sampled_from(sorted(r.name for r in builtin.REPORTS)) | st.sampled_from(("", " items", "ITEMS"))
                | st.text(WEB_CHARS, max_size=12))


@settings(max_examples=scaled(60))
@given(report=st.none() | REPORT_NAMES, run_id=st.integers(0, 2**70), admin=st.booleans())
@example(report=None, run_id=2**63, admin=False)
def test_reports_page_and_downloads_are_200_400_or_404(site, report, run_id, admin):
    client = site.admin if admin else site.viewer
    check(client.get("/admin/reports/", query_string={"report": report} if report is not None else {}),
          (200, 400), "/admin/reports/")
    check(client.get(f"/admin/reports/download/{run_id}"), (200, 404), "download")


@settings(max_examples=scaled(40))
@given(report=REPORT_NAMES, period=st.sampled_from(PERIODS) | st.text(WEB_CHARS, max_size=12),
       admin=st.booleans())
def test_run_now_form_is_a_redirect_or_400_and_403_for_viewers(site, report, period, admin):
    client = site.admin if admin else site.viewer
    token = site.csrf if admin else site.viewer_csrf
    response = client.post("/admin/reports/run", data={"report": report, "period": period, "csrf_token": token})
    check(response, (302, 400) if admin else (403, *nul(report, period)), "run")
    drop_flashes(client)


# --- what fuzzing found, kept as plain tests --------------------------------------------------------------


@pytest.mark.parametrize("url, status", [
    ("/admin/users/?self=x", 200),  # was a TypeError in Flask-Admin's get_url(self, ...)
    ("/admin/items/export/csv/?self=x", 200),
    ("/admin/items/ajax/lookup/?name=bucketlist&offset=" + "9" * 30, 200),  # past a database integer
    (f"/admin/reports/download/{2**63}", 404),  # past the id column
    ("/admin/activity/feed.json?actor=" + "9" * 5000, 400),  # more digits than int() reads
    ("/admin/items/details/?id=" + "9" * 5000, 302),
])
def test_input_fuzzing_broke_pages_with_is_answered(site, url, status):
    check(site.admin.get(url), (status,), url.split("?")[0])


@pytest.mark.parametrize("view", VIEWS)
def test_a_model_csv_export_gives_its_database_connection_back(site, view):
    """The export's query was bound to the view's session, which is closed when the view returns: streaming
    opened it again, and each export kept a connection until the garbage collector ran (the pool ran dry)."""
    for _ in range(3):
        check(site.viewer.get(f"/admin/{view}/export/csv/"), (200,), "export")
    assert db.engine.pool.checkedout() <= 1
