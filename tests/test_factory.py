"""The app factory wires the same app as before the restructuring, and each shared rule has one owner.

The URL rules and commands below were captured from create_app() before admin_app/cli.py became a package and
the security headers and error handlers left the factory: a rule or command that goes missing, or appears, fails.
"""
from __future__ import annotations

from typing import Any

import click
import pytest
from flask import Flask

from admin_app import create_app, errors, security
from admin_app.accounts import EMAIL_PATTERN, MIN_PASSWORD, AccountError, create_user
from admin_app.admin.model_views import UserView
from admin_app.cli.users import create_user_command
from admin_app.models import ROLES
from flask_activity import state
from tests.conftest import _config

# The extension's part of the URL map: what ActivityReporting.init_app adds to a host's Admin (the rest of the map
# is classified rule by rule in tests/security/routes.py, whose sweep fails on any rule it does not know).
EXTENSION_RULES = {
    "/admin/activity/ activity.index GET,HEAD,OPTIONS",
    "/admin/activity/export.csv activity.export_csv GET,HEAD,OPTIONS",
    "/admin/activity/feed.json activity.feed_json GET,HEAD,OPTIONS",
    "/admin/activity/by/<who> activity.person GET,HEAD,OPTIONS",
    "/admin/reports/ reports.index GET,HEAD,OPTIONS",
    "/admin/reports/download/<int(max=2147483647):run_id> reports.download GET,HEAD,OPTIONS",
    "/admin/reports/run reports.run_now OPTIONS,POST",
    "/admin/reports/recipients reports.set_recipients OPTIONS,POST",
}

# Every command of ours with its arguments and options, as `manage.py --help` listed them (`db` is Flask-Migrate's).
COMMANDS: dict[str, list[list[str]]] = {
    "activity": [["--since"], ["--until"], ["--model"], ["--action"], ["--actor"], ["--record"], ["--limit"],
                 ["--cursor"], ["--format"]],
    "activity doctor": [["--format"], ["--migration"], ["--revision"], ["--down-revision"]],
    "activity counts": [["--days"]],
    "bootstrap": [["--admin-email"], ["--demo-users"], ["--demo-items"]],
    "create-user": [["email"], ["--role"], ["--name"], ["--password-stdin"], ["--as"], ["--timezone"]],
    "db": [["-d", "--directory"], ["-x", "--x-arg"]],
    "init-db": [],
    "report": [],
    "report history": [["name"], ["--limit"]],
    "report list": [],
    "report prune": [["name"], ["--dry-run"]],
    "report run": [["name"], ["--since"], ["--until"], ["--period"], ["--param"], ["--out"], ["--gzip"]],
    "report schedule": [["--report"], ["--once"]],
    "schedule": [["--report"], ["--once"]],  # the same command: reports and deliveries
    "subscription": [],
    "subscription add": [["name"], ["--as"], ["--model"], ["--action"], ["--actor"], ["--cadence"], ["--at"],
                         ["--weekday"], ["--cron"], ["--timezone"], ["--email"], ["--webhook"], ["--in-app"],
                         ["--send-empty"]],
    "subscription list": [["--as"]],
    "subscription pause": [["sub_id"]],
    "subscription resume": [["sub_id"]],
    "subscription remove": [["sub_id"]],
    "subscription test": [["sub_id"]],
    "deliveries": [["--failed"], ["--limit"]],
    "run": [["--host"], ["--port"], ["--threads"], ["--workers"]],
    "seed-demo": [["--users"], ["--items"], ["--months"], ["--seed"]],
    "set-password": [["email"], ["--password-stdin"]],
}


@pytest.fixture(scope="module")
def bare_app() -> Flask:
    """An app that is only inspected: no database is opened."""
    return create_app(_config("sqlite://"))


def _commands(group: click.Group, ctx: click.Context, prefix: str = "") -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found[prefix + name] = [list(p.opts) for p in command.params]
        if isinstance(command, click.Group) and name != "db":  # not Flask-Migrate's own subcommands
            found |= _commands(command, ctx, prefix + name + " ")
    return found


def test_the_extension_adds_its_views_and_every_audited_model_has_a_model_view(bare_app: Flask) -> None:
    rules = {f"{r.rule} {r.endpoint} {','.join(sorted(r.methods or ()))}" for r in bare_app.url_map.iter_rules()
             if r.endpoint.split(".")[0] in ("activity", "reports", "activity_dashboard")}
    assert rules == EXTENSION_RULES  # our dashboard is the admin index (a DashboardView), so no second one
    admin = bare_app.extensions["admin"][0]
    viewed = {v.model for v in admin._views if getattr(v, "model", None) is not None}
    with bare_app.app_context():
        specs = state().specs
        assert specs and all(spec.cls in viewed for spec in specs.values())  # every feed event links to its record


def test_create_app_registers_the_same_commands_with_the_same_options(bare_app: Flask) -> None:
    with bare_app.app_context():
        assert _commands(bare_app.cli, click.Context(bare_app.cli)) == COMMANDS


def test_commands_are_added_by_cli_init_app_only() -> None:
    import admin_app.cli

    app = Flask(__name__)
    admin_app.cli.init_app(app)
    # activity, report, schedule, subscription and deliveries are the extension's: ActivityReporting.init_app adds
    # them (flask_activity.cli)
    extension = ("db", "activity", "report", "schedule", "subscription", "deliveries")
    assert set(app.cli.commands) == {n for n in COMMANDS if " " not in n and n not in extension}


def test_security_hooks_run_first_and_once(bare_app: Flask) -> None:
    hooks = bare_app.before_request_funcs[None]
    assert hooks[0] is security.new_nonce  # before CSRFProtect's: a refused form still gets a valid nonce
    assert hooks.count(security.refuse_nul) == 1
    assert bare_app.after_request_funcs[None].count(security.add_headers) == 1


@pytest.mark.parametrize(("path", "json"), [
    ("/admin/activity/feed.json", True),
    ("/anything.json", True),
    ("/admin/activity/", False),
    ("/admin/activity/export.csv", False),
    ("/admin/activity/?format=.json", False),
    ("/login", False),
])
def test_wants_json_only_for_paths_ending_in_dot_json(bare_app: Flask, path: str, json: bool) -> None:
    with bare_app.test_request_context(path):
        assert errors.wants_json() is json


def test_bad_request_answers_json_to_json_paths_and_a_page_to_people(bare_app: Flask) -> None:
    with bare_app.test_request_context("/admin/activity/feed.json"):
        response = errors.bad_request("limit: not a number")
        assert (response.status_code, response.get_json()) == (400, {"error": "limit: not a number"})
    with bare_app.test_request_context("/admin/activity/"):
        response = errors.bad_request("limit: not a number")
        assert response.status_code == 400
        assert response.mimetype == "text/html"
        assert "limit: not a number" in response.get_data(as_text=True)


def test_every_error_handler_is_registered_by_errors(bare_app: Flask) -> None:
    handlers: dict[Any, Any] = {}
    for by_class in bare_app.error_handler_spec[None].values():
        handlers |= by_class
    owned = {errors.csrf_error, errors.error_page, errors.too_many_attempts, errors.database_unavailable,
             errors.too_large, errors.busy}
    assert set(handlers.values()) == owned


# --- one owner per rule -------------------------------------------------------------------------


def test_create_user_offers_exactly_the_model_roles() -> None:
    role = next(p for p in create_user_command.params if p.name == "role")
    assert isinstance(role.type, click.Choice)
    assert tuple(role.type.choices) == ROLES


def test_user_form_checks_email_and_password_with_the_accounts_rules() -> None:
    email_validators = UserView.form_args["email"]["validators"]
    assert [v.regex for v in email_validators] == [EMAIL_PATTERN]
    password = UserView.form_extra_fields["new_password"]
    lengths = [v for v in password.kwargs["validators"] if hasattr(v, "min")]
    assert [v.min for v in lengths] == [MIN_PASSWORD]


@pytest.mark.parametrize(("email", "ok"), [
    ("ann@example.com", True), ("a@b.co", True),
    ("ann", False), ("ann@example", False), ("ann @example.com", False), ("@example.com", False),
])
def test_email_pattern(email: str, ok: bool) -> None:
    assert bool(EMAIL_PATTERN.match(email)) is ok


def test_accounts_refuse_a_password_one_shorter_than_the_minimum(bare_app: Flask) -> None:
    with bare_app.app_context(), pytest.raises(AccountError, match=f"at least {MIN_PASSWORD} characters"):
        create_user("short@example.com", "x" * (MIN_PASSWORD - 1))  # refused before the database is asked
