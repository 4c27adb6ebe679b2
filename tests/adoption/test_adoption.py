"""What any app gets by adopting flask-activity, proved on two different apps (the bucketlist admin and the help
desk, tests/adoption/conftest.py), each on SQLite and PostgreSQL.

The models come from the registry (``state().specs``) and the URLs from the URL map; what the feed should show
comes from the adapters' journal of writes and from the stored columns.
"""
from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import url_for

from flask_activity import state
from flask_activity.delivery.subscriptions import SubscriptionInput, save
from flask_activity.reporting import runs
from flask_activity.state import model_labels
from tests.adoption.conftest import Host

ACTIONS = ("created", "updated", "deleted")
ROLE_OF = {"created": "created_at", "updated": "updated_at", "deleted": "deleted_at"}
EXTENSION_PREFIXES = ("activity", "reports", "activity_dashboard", "flask_activity", "subscriptions", "activity_links")
STATIC_FILE = "bootstrap/bootstrap4/css/bootstrap.min.css"  # one of Flask-Admin's own files
OWN_STATIC = {"flask_activity.static": "live.js"}  # the extension's own static files (the feed's live script)
# Subscriptions: any reader keeps their own; another's (here, the admin's) is a 404 to them. Signed links answer by
# their signature alone (a forged one here: 404 for everyone).
SUBSCRIPTION_GET = {"subscriptions.detail": {"anonymous": "login", "reader": 404, "admin": 200}}
SUBSCRIPTION_POST = {"subscriptions.new": {"anonymous": "login", "reader": 400, "admin": 400}}  # no name given
SIGNED = ("activity_links.unsubscribe", "activity_links.report_file")
FORMULA = '=HYPERLINK("http://evil.example/","click")'
_ROW = re.compile(r'<tr[^>]*>\s*<td><time datetime="([^"]+)">.*?</td>\s*<td>([^<]+)</td>\s*<td>(?:<a [^>]*>)?(\d+)'
                  r'(?:</a>)?</td>\s*<td class="action-(\w+)">\w+</td>\s*<td class="actor-cell">(.*?)</td>', re.S)


@dataclass(frozen=True)
class Expected:
    at: datetime
    model: str
    id: int
    action: str
    actor: Any  # the account's key; None: no user recorded, or the model records none for this action
    by: str  # as the page shows it: the account's person name, "system" or "not recorded"
    label: str

    def as_json(self) -> tuple[Any, ...]:
        return (self.at, self.model, self.id, self.action, None if self.actor is None else str(self.actor),
                self.label)

    def as_row(self) -> tuple[Any, ...]:
        return (self.at, self.model, self.id, self.action, self.by)


def expected_events(host: Host) -> list[Expected]:
    """The events the journal's writes should show, for what each model's columns record, newest first."""
    accounts = {host.admin.id: host.admin, host.reader.id: host.reader}
    by_row: dict[tuple[str, int], dict[str, Any]] = {}
    for write in host.adapter.journal:
        by_row.setdefault((write.model, write.id), {})[write.action] = write.actor
    found = []
    for (model, pk), actions in by_row.items():
        spec = host.specs[model]
        for action, actor in actions.items():
            if action not in spec.actions:
                continue
            recorded = spec.actor(action) is not None
            actor = actor if recorded else None
            by = host.person(accounts[actor]) if actor is not None else "system" if recorded else "not recorded"
            found.append(Expected(host.stored(model, pk, ROLE_OF[action]), model, pk, action, actor, by,
                                  str(host.stored(model, pk, "label"))))
    return sorted(found, key=lambda e: (e.at, e.model, e.id, ACTIONS.index(e.action)), reverse=True)


def link(host: Host, endpoint: str, **values: Any) -> str:
    with host.app.test_request_context():
        return url_for(endpoint, **values)


def feed_json(host: Host, client: Any, **params: Any) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    response = client.get(link(host, "activity.feed_json", limit=500, **params))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    events = [(datetime.fromisoformat(e["at"]), e["model"], e["id"], e["action"],
               None if e["actor"] is None else str(e["actor"]["id"]), e["label"]) for e in body["events"]]
    return events, body


def feed_rows(host: Host, client: Any, **params: Any) -> tuple[list[tuple[Any, ...]], str]:
    response = client.get(link(host, "activity.index", limit=500, **params))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    with host.app.app_context():  # the page names models as the host's navbar does; the feed names are the key
        names = {label: name for name, label in model_labels().items()}
    rows = [(datetime.fromisoformat(at), names[html.unescape(model)], int(pk), action,
             html.unescape(re.sub(r"<[^>]+>", "", by)).strip())
            for at, model, pk, action, by in _ROW.findall(page)]
    return rows, page


def run_report(host: Host, *args: str) -> Any:
    result = host.app.test_cli_runner().invoke(args=["report", "run", host.adapter.report, *args])
    assert result.exit_code == 0, result.output
    return result


def outcome(host: Host, response: Any, path: str) -> int | str:
    """A status code, or "login" for a redirect to the app's login page (with ``next`` back, for a GET)."""
    if response.status_code != 302:
        return response.status_code
    target = urlsplit(response.location)
    if target.path != host.adapter.login_path:
        return 302
    return "login" if parse_qs(target.query).get("next", [path])[0] == path else "login, wrong next"


def test_every_audited_model_has_an_adapter_factory(host):
    assert set(host.adapter.creators()) == set(host.specs) == set(host.adapter.updaters())
    # the models the app soft-deletes are exactly those that map a deletion column
    assert set(host.adapter.deleters()) == {m for m, spec in host.specs.items() if "deleted" in spec.actions}


def test_the_apps_own_schema_serves_every_feed_branch_from_an_index(host):
    """Each app's migrations (the help desk's 0002 was written by the doctor) leave nothing for the doctor to add."""
    result = host.app.test_cli_runner().invoke(args=["activity", "doctor", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["missing_indexes"] == []


def test_the_feed_shows_exactly_the_events_each_models_columns_record(host):
    updaters, deleters = host.adapter.updaters(), host.adapter.deleters()
    for model in host.specs:
        with host.acting(host.admin):
            host.create(model, f"{model} kept")
            edited = host.create(model, f"{model} edited")
            dropped = host.create(model, f"{model} dropped") if model in deleters else None
        with host.acting(None):
            host.create(model, f"{model} by the system")
        for pk in (edited, dropped):
            if pk is not None:  # an update within a second of the creation is the creation (naive columns)
                host.backdate(model, pk, timedelta(hours=1))
        with host.acting(host.reader):
            updaters[model](edited)
            if dropped is not None:
                deleters[model](dropped)
    expected = expected_events(host)
    assert {e.action for e in expected} == set(ACTIONS)

    reader = host.client(host.reader)
    events, body = feed_json(host, reader)
    assert events == [e.as_json() for e in expected]
    notes = {name: note for name, spec in host.specs.items() if (note := spec.note())}
    assert body.get("notes", {}) == notes and ("notes" in body) == bool(notes)
    rows, page = feed_rows(host, reader)
    assert rows == [e.as_row() for e in expected]
    assert page.count('class="model-note') == len(notes)
    assert ("not recorded" in page) == any(e.by == "not recorded" for e in expected)

    times = sorted({e.at for e in expected})
    since, until = times[1], times[-1]
    filters: list[tuple[dict[str, str], Any]] = [
        *(({"model": m}, lambda e, m=m: e.model == m) for m in host.specs),
        *(({"action": a}, lambda e, a=a: e.action == a) for a in ACTIONS),
        *(({"actor": host.person(who)}, lambda e, who=who: e.actor == who.id) for who in (host.admin, host.reader)),
        ({"actor": "system"}, lambda e: e.by == "system"),
        ({"since": since.isoformat(), "until": until.isoformat()}, lambda e: since <= e.at < until),
    ]
    for params, keep in filters:
        chosen = [e for e in expected if keep(e)]
        assert chosen, params  # every filter has something to show, and something to leave out
        assert len(chosen) < len(expected) or ("model" in params and len(host.specs) == 1), params
        assert feed_json(host, reader, **params)[0] == [e.as_json() for e in chosen], params
        assert feed_rows(host, reader, **params)[0] == [e.as_row() for e in chosen], params


def test_keyset_paging_returns_every_row_once_through_equal_timestamps(host):
    at = datetime(2026, 1, 5, 9, 30, 0, 123456, tzinfo=UTC)
    made = set()
    with host.acting(host.admin):
        for model in host.specs:
            for n in range(25):
                pk = host.create(model, f"{model} {n}")
                host.stamp(model, pk, at)
                made.add((model, pk))
    reader = host.client(host.reader)
    seen: list[tuple[Any, ...]] = []
    cursor, pages = None, 0
    while True:
        params = {"since": at.isoformat(), "until": (at + timedelta(seconds=1)).isoformat(), "action": "created",
                  "limit": "10", **({"cursor": cursor} if cursor else {})}
        body = reader.get(link(host, "activity.feed_json", **params)).get_json()
        assert len(body["events"]) <= 10
        seen += [(e["model"], e["id"], datetime.fromisoformat(e["at"])) for e in body["events"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 50
    keys = [(model, pk) for model, pk, _ in seen]
    assert len(keys) == len(set(keys)) == len(made) and set(keys) == made
    assert {when for _, _, when in seen} == {at}
    assert keys == sorted(keys, reverse=True)  # one instant: by model, then id, newest first


def test_csv_export_guards_labels_that_a_spreadsheet_would_run(host):
    with host.acting(host.admin):
        made = {model: host.create(model, FORMULA) for model in host.specs}
    response = host.client(host.reader).get(link(host, "activity.export_csv", action="created"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == ["at", "model", "id", "action", "actor_id", f"actor_{state().person}", "label"]
    rows = {(r[1], int(r[2])): r for r in table[1:]}
    for model, pk in made.items():
        stored = str(host.stored(model, pk, "label"))
        assert stored.upper().startswith("=HYPERLINK(")
        row = rows[(model, pk)]
        assert row[6] == "'" + stored
        recorded = host.specs[model].actor("created") is not None
        assert row[4:6] == ([str(host.admin.id), host.person(host.admin)] if recorded else ["", ""])
    assert not [cell for row in table for cell in row if cell[:1] in ("=", "+", "@")]


def test_a_report_run_from_the_cli_writes_its_file_and_a_succeeded_run(host):
    with host.acting(host.admin):
        for model in host.specs:
            host.create(model, f"{model} for the report")
    expected = expected_events(host)
    since = min(e.at for e in expected) - timedelta(seconds=1)
    until = max(e.at for e in expected) + timedelta(seconds=1)
    result = run_report(host, "--since", since.isoformat(), "--until", until.isoformat())
    [run] = runs.run_history(host.adapter.report)
    assert (run.status, run.rows, run.period_start, run.period_end) == ("succeeded", len(expected), since, until)
    path = Path(host.app.config["REPORTS_DIR"]) / str(run.path)
    assert str(path) in result.output and path.stat().st_size == run.bytes
    table = list(csv.reader(io.StringIO(path.read_text())))
    assert [(r[1], int(r[2]), r[3]) for r in table[1:]] == [(e.model, e.id, e.action) for e in expected]


def test_every_url_the_extension_adds_needs_a_login_and_its_writes_an_administrator(host):
    run_report(host, "--period", "today")
    [run] = runs.run_history(host.adapter.report)
    rules = sorted((r for r in host.app.url_map.iter_rules() if r.endpoint.split(".")[0] in EXTENSION_PREFIXES),
                   key=lambda r: (r.endpoint == "subscriptions.delete", r.rule))  # deleting it last
    assert {"activity.index", "activity.feed_json", "activity.export_csv", "reports.index", "reports.download",
            "reports.run_now"} <= {r.endpoint for r in rules}
    clients = {"anonymous": host.client(), "reader": host.client(host.reader), "admin": host.client(host.admin)}
    got, want = {}, {}
    sub_id = save(host.admin, SubscriptionInput("the admin's", cadence="daily"))[0].id
    values = {"run_id": run.id, "sub_id": sub_id, "token": "forged", "who": "system"}
    for rule in rules:
        given = values | {"filename": OWN_STATIC.get(rule.endpoint, STATIC_FILE)}
        path = link(host, rule.endpoint, **{k: v for k, v in given.items() if k in rule.arguments})
        # A dashboard that is not the admin index still brings Flask-Admin's static files (public, as at /admin/static)
        public = rule.endpoint.endswith(".static")
        subscription = rule.endpoint.startswith("subscriptions.")
        for role, client in clients.items():
            if "GET" in (rule.methods or ()):
                got[(path, "GET", role)] = outcome(host, client.get(path), path)
                want[(path, "GET", role)] = (404 if rule.endpoint in SIGNED else
                                             SUBSCRIPTION_GET.get(rule.endpoint, {}).get(role) or
                                             ("login" if role == "anonymous" and not public else 200))
            if "POST" in (rule.methods or ()):
                form = {"report": host.adapter.report, "period": "today",
                        "csrf_token": host.form_token(client, host.adapter.login_path)}
                got[(path, "POST", role)] = outcome(host, client.post(path, data=form), path)
                want[(path, "POST", role)] = (
                    404 if rule.endpoint in SIGNED else SUBSCRIPTION_POST.get(rule.endpoint, {}).get(role) or
                    {"anonymous": "login", "reader": 404 if subscription else 403, "admin": 302}[role])
    assert got == want
    assert [r.status for r in runs.run_history(host.adapter.report)] == ["succeeded", "succeeded"]  # the admin's


def test_run_now_is_refused_without_the_csrf_token_and_runs_with_it(host):
    admin = host.client(host.admin)
    index, run_now = link(host, "reports.index"), link(host, "reports.run_now")
    form = {"report": host.adapter.report, "period": "today"}
    assert admin.post(run_now, data=form).status_code == 400
    assert admin.post(run_now, data=form | {"csrf_token": "forged"}).status_code == 400
    assert runs.run_history(host.adapter.report) == []
    response = admin.post(run_now, data=form | {"csrf_token": host.form_token(admin, index)})  # Run now's own form
    assert response.status_code == 302 and urlsplit(response.location).path == index
    assert [r.status for r in runs.run_history(host.adapter.report)] == ["succeeded"]
