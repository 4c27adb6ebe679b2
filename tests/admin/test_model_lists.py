"""The model lists (Users, Bucketlists, Items) as a reader meets them: times said as "3 min ago" with the exact time
in the title, one convention for labels, the Deleted column only with deleted rows, pickers and a pager that name
what they do, and a filter value the list cannot use given back as typed with the reason, as a 400."""
from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from admin_app.admin.list_format import relative_time
from admin_app.admin.model_views import AuditedModelView
from admin_app.models import User
from flask_activity.types import utcnow
from tests import factories

LISTS = ("users", "bucketlists", "items")
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)


# --- helpers ----------------------------------------------------------------------------------------------------


def _view(app: Flask, endpoint: str) -> AuditedModelView:
    [view] = [v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", None) == endpoint]
    return view


def _arg(app: Flask, endpoint: str, name: str, operation: str, position: int = 0) -> str:
    """The query argument the list's filter form sends for filter ``name`` with ``operation`` (e.g. flt0_18)."""
    view = _view(app, endpoint)
    [(idx, flt)] = [(i, f) for i, f in enumerate(view._filters) if f.name == name and str(f.operation()) == operation]
    return f"flt{position}_{view.get_filter_arg(idx, flt)}"


def _headers(body: str) -> list[str]:
    """The list table's column headers as shown (the row-actions column has none)."""
    table = body[body.index('class="table table-striped'):body.index("</thead>")]
    cells = re.findall(r'<th class="column-header[^"]*">(.*?)</th>', table, re.S)
    return [re.sub(r"<[^>]+>|\s+", " ", cell).strip() for cell in cells]


def _json_div(body: str, div_id: str) -> Any:
    m = re.search(rf'<div id="{div_id}" class="d-none">(.*?)</div>', body, re.S)
    assert m, f"no #{div_id} on the page"
    return json.loads(html.unescape(m.group(1)))


def _errors(body: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'class="invalid-feedback d-block filter-error"[^>]*>(.*?)</div>',
                                                 body, re.S)]


def _page(client: Any, url: str, status: int = 200, **kwargs: Any) -> str:
    response = client.get(url, **kwargs)
    assert response.status_code == status, (url, response.status_code)
    return str(response.get_data(as_text=True))


@pytest.fixture
def items(admin_user: User) -> dict[str, Any]:
    """One bucketlist with an item made 3 minutes ago, one 5 hours ago and one 40 days ago."""
    now = utcnow()
    bl = factories.bucketlist(admin_user, "Kyoto trip", actor=admin_user)
    made = {}
    for title, ago in (("temples", timedelta(minutes=3, seconds=5)), ("castle", timedelta(hours=5, minutes=1)),
                       ("deer park", timedelta(days=40))):
        made[title] = factories.item(bl, title, actor=admin_user, created_at=now - ago, updated_at=now - ago)
    return made


# --- times ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ago, said", [
    (timedelta(seconds=20), "just now"),
    (timedelta(seconds=-30), "just now"),  # a clock a little ahead
    (timedelta(minutes=3, seconds=59), "3 min ago"),
    (timedelta(minutes=59), "59 min ago"),
    (timedelta(hours=1, minutes=10), "1 hour ago"),
    (timedelta(hours=23, minutes=59), "23 hours ago"),
    (timedelta(days=1, hours=2), "1 day ago"),
    (timedelta(days=6, hours=23), "6 days ago"),
    (timedelta(days=7), "2026-07-08 14:00"),  # past a week: the date and time in the reader's zone
    (timedelta(days=-2), "2026-07-17 14:00"),  # ahead by more than a skew: said as a date too
])
def test_relative_time_says_how_long_ago_then_the_date_after_a_week(ago, said):
    assert relative_time(NOW - ago, NOW, PARIS) == said


@pytest.mark.parametrize("app_config", [{"APP_TIMEZONE": "Europe/Paris"}])
def test_list_times_are_relative_with_the_exact_time_in_the_users_zone_as_title(admin_client, items):
    body = _page(admin_client, "/admin/items/")
    for title, said in (("temples", "3 min ago"), ("castle", "5 hours ago")):
        at = items[title].created_at
        exact = at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S %Z")
        utc = at.astimezone(UTC).isoformat(timespec="seconds")
        assert f'<time datetime="{utc}" title="{exact}">{said}</time>' in body, title
    old = items["deer park"].created_at.astimezone(PARIS)
    assert f'title="{old:%Y-%m-%d %H:%M:%S %Z}">{old:%Y-%m-%d %H:%M}</time>' in body
    assert "Times in Europe/Paris" in body


@pytest.mark.parametrize("app_config", [{"APP_TIMEZONE": "Europe/Paris"}])
def test_details_keep_exact_times_and_exports_keep_iso_utc(admin_client, items):
    fresh = items["temples"]
    details = _page(admin_client, f"/admin/items/details/?id={fresh.id}")
    assert fresh.created_at.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S %Z") in details
    assert "min ago" not in details
    csv = _page(admin_client, "/admin/items/export/csv/", buffered=True)
    assert fresh.created_at.astimezone(UTC).isoformat() in csv and "min ago" not in csv


# --- labels -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint, headers", [
    ("users", ["ID", "Email", "Display name", "Role", "Active", "Created", "Updated"]),
    ("bucketlists", ["ID", "Title", "Owner", "Created", "Updated", "Created by", "Updated by"]),
    ("items", ["ID", "Title", "Bucketlist", "Done", "Due date", "Created", "Updated", "Created by", "Updated by"]),
])
def test_list_headers_follow_one_label_convention(viewer_client, endpoint, headers):
    assert _headers(_page(viewer_client, f"/admin/{endpoint}/")) == headers


@pytest.mark.parametrize("endpoint", LISTS)
def test_filters_use_the_same_labels_as_the_columns(viewer_client, endpoint):
    groups = list(_json_div(_page(viewer_client, f"/admin/{endpoint}/"), "filter-groups-data"))
    assert {"Created", "Updated", "Deleted", "Deletion time"} <= set(groups)
    assert not [g for g in groups if " At" in g or g.endswith(" at") or g == "Due Date"]
    if endpoint == "items":
        assert "Due date" in groups


def test_details_use_the_same_labels(admin_client, items):
    body = _page(admin_client, f"/admin/items/details/?id={items['temples'].id}")
    labels = re.findall(r"<td>\s*<b>([^<]+)</b>", body)
    assert {"Created", "Updated", "Deleted", "Created by", "Updated by", "Due date"} <= set(labels)
    assert not [label for label in labels if label.endswith(" At") or label == "Due Date"]


def test_csv_headers_stay_as_scripts_read_them(admin_client, items):
    header = _page(admin_client, "/admin/items/export/csv/", buffered=True).splitlines()[0]
    assert header.split(",") == ["Id", "Title", "Bucketlist", "Done", "Due Date", "Created At", "Updated At",
                                 "Created by", "Updated by", "Deleted At"]


# --- the Deleted column -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, shown", [(None, False), ("hide", False), ("include", True), ("only", True)])
def test_deleted_column_only_when_the_deleted_filter_lets_deleted_rows_in(app, admin_client, items, value, shown):
    factories.soft_delete(items["castle"])
    query = {_arg(app, "items", "Deleted", "rows"): value} if value else {}
    body = _page(admin_client, "/admin/items/", query_string=query)
    assert ("Deleted" in _headers(body)) is shown
    assert ("castle" in body) is shown


def test_a_deletion_time_filter_lists_the_rows_deleted_then_with_their_column(app, admin_client, items):
    factories.soft_delete(items["castle"])
    yesterday, tomorrow = ((utcnow() + timedelta(days=d)).strftime("%Y-%m-%d") for d in (-1, 1))
    body = _page(admin_client, "/admin/items/",
                 query_string={_arg(app, "items", "Deletion time", "between"): f"{yesterday} to {tomorrow}"})
    assert "Deleted" in _headers(body) and "castle" in body and "temples" not in body


# --- pickers and pager ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form, placeholder", [("/admin/items/new/", "Choose a bucketlist"),
                                               ("/admin/bucketlists/new/", "Choose an owner")])
def test_the_record_pickers_name_what_to_choose(admin_client, form, placeholder):
    body = _page(admin_client, form)
    assert f'data-placeholder="{placeholder}"' in body and "Please select model" not in body


def _pager(body: str) -> str:
    return body[body.index('<ul class="pagination list-pager">'):].split("</ul>")[0]


def test_pager_says_newer_older_and_the_page_and_counts_nothing(admin_client, admin_user):
    factories.bulk_items(factories.bucketlist(admin_user), 51, utcnow(), timedelta(minutes=1))
    first = _pager(_page(admin_client, "/admin/items/"))
    assert '<span class="page-link" aria-disabled="true">Newer</span>' in first
    assert re.search(r'<a class="page-link" rel="next" href="/admin/items/\?page=1[^"]*">Older</a>', first)
    assert "Page 1" in first and "&lt;" not in first and "&gt;" not in first
    second = _pager(_page(admin_client, "/admin/items/?page=1"))
    assert re.search(r'<a class="page-link" rel="prev" href="/admin/items/\?[^"]*">Newer</a>', second)
    assert "page=1" not in second.split("Newer")[0].rsplit("<a", 1)[1]  # back to the first page
    assert '<span class="page-link" aria-disabled="true">Older</span>' in second and "Page 2" in second
    body = _page(admin_client, "/admin/items/")
    assert not re.search(r">List \(\d+\)<", body)  # no count unless asked for (the list never asks)


@pytest.mark.parametrize("sort, desc, words", [("title", None, ("Previous", "Next")),
                                               ("created_at", None, ("Older", "Newer")),
                                               ("created_at", "1", ("Newer", "Older"))])
def test_pager_words_follow_the_lists_order(app, admin_client, admin_user, sort, desc, words):
    factories.bulk_items(factories.bucketlist(admin_user), 51, utcnow(), timedelta(minutes=1))
    index = [name for name, _label in _view(app, "items")._list_columns].index(sort)
    pager = _pager(_page(admin_client, "/admin/items/", query_string={"sort": index, "desc": desc}))
    assert re.findall(r">(Previous|Next|Newer|Older)<", pager) == list(words)  # before this page, after it


# --- a filter value the list cannot use -------------------------------------------------------------------------


BAD = [
    ("items", "Created", "between", "yesterday",
     "Created: 'yesterday' is not a date; use YYYY-MM-DD or YYYY-MM-DD HH:MM"),
    ("users", "Created", "between", "2026-01-01",
     "Created: '2026-01-01' is one date; give a range as START to END"),
    ("bucketlists", "Updated", "between", "2026-02-01 to 2026-01-01",
     "Updated: the start, '2026-02-01', is after the end, '2026-01-01'"),
    ("items", "Due date", "equals", "31/12/2026", "Due date: '31/12/2026' is not a date; use YYYY-MM-DD"),
    ("items", "Done", "equals", "maybe", "Done: 'maybe' is not one of the choices; choose Yes or No"),
    ("users", "Active", "equals", "yes", "Active: 'yes' is not one of the choices; choose Yes or No"),
    ("bucketlists", "Deleted", "rows", "all", "Deleted: 'all' is not one of the choices; choose hide deleted"),
    ("items", "Actor (email or 'system')", "is", "nobody@example.com",
     "Actor (email or 'system'): no user 'nobody@example.com'"),
]


@pytest.mark.parametrize("endpoint, name, operation, typed, message", BAD)
def test_a_bad_filter_value_is_a_400_with_the_value_as_typed_and_the_reason_beside_it(
        app, viewer_client, items, endpoint, name, operation, typed, message):
    title = _arg(app, endpoint, "Title", "contains", position=1) if endpoint != "users" else None
    query = {_arg(app, endpoint, name, operation): typed, **({title: "o"} if title else {})}
    body = _page(viewer_client, f"/admin/{endpoint}/", status=400, query_string=query)
    shown = _json_div(body, "active-filters-data")  # the rows the filter form is built from
    assert shown[0][1:] == [name, typed]
    if title:
        assert shown[1][1:] == ["Title", "o"]  # the good one is kept too
    [error] = _errors(body)
    assert error.startswith(message)
    assert 'id="filter-error-0" data-filter-row="0"' in body  # beside the first row of the form (lists.js)
    assert "No records are shown until the filter above is fixed." in body
    assert "list-pager" not in body and "temples" not in body


def test_a_good_filter_value_still_filters(app, viewer_client, items):
    yesterday, tomorrow = ((utcnow() + timedelta(days=d)).strftime("%Y-%m-%d") for d in (-1, 1))
    body = _page(viewer_client, "/admin/items/",
                 query_string={_arg(app, "items", "Created", "between"): f"{yesterday} to {tomorrow}"})
    assert not _errors(body) and "temples" in body and "deer park" not in body


def test_several_bad_values_each_get_their_own_reason_beside_their_row(app, viewer_client):
    query = [(_arg(app, "items", "Created", "between", 0), "soon"),
             (_arg(app, "items", "Title", "contains", 1), "fine"),
             (_arg(app, "items", "Due date", "equals", 2), "tomorrow")]
    body = _page(viewer_client, "/admin/items/", status=400, query_string=query)
    assert _errors(body) == ["Created: 'soon' is not a date; use YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS], optionally "
                             "with an offset", "Due date: 'tomorrow' is not a date; use YYYY-MM-DD"]
    assert 'data-filter-row="0"' in body and 'data-filter-row="2"' in body


def test_a_bad_filter_value_is_not_flashed_on_the_next_page(app, viewer_client):
    _page(viewer_client, "/admin/items/", status=400, query_string={_arg(app, "items", "Done", "equals"): "x"})
    assert "Invalid Filter Value" not in _page(viewer_client, "/admin/items/")


def test_an_export_with_a_bad_filter_value_is_a_400_saying_why(app, viewer_client, items):
    body = _page(viewer_client, "/admin/items/export/csv/", status=400,
                 query_string={_arg(app, "items", "Created", "between"): "yesterday"})
    assert "Created: &#39;yesterday&#39; is not a date" in body
