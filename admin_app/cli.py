"""Command-line interface: thin click wrappers over plain functions."""
from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError, ProgrammingError

from . import activity
from .accounts import AccountError, create_user, find_user, random_password
from .audit import acting_as
from .extensions import db
from .timefmt import display_zone, format_local


def fail(message: str) -> NoReturn:
    """Print one line saying what to fix and exit with status 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def db_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turn database errors into one line and exit status 2 (e.g. a schema that was never created)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _refuse_non_utf8(kwargs)
        try:
            return f(*args, **kwargs)
        except (OperationalError, ProgrammingError) as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            fail(f"database error: {first} (is DATABASE_URL right, and did you run 'manage.py init-db'?)")

    return wrapper


def _refuse_non_utf8(params: dict[str, Any]) -> None:
    """Exit 2 naming the first argument that is not UTF-8: bytes the shell passed that Python keeps as lone
    surrogates, which no database driver can send (a UnicodeEncodeError deep inside a query otherwise)."""
    for name, value in params.items():
        for text in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(text, str) and text.encode("utf-8", "replace").decode("utf-8") != text:
                fail(f"{name.replace('_', '-')}: {text!r} is not valid UTF-8 text")


def _stdin_line() -> str:
    """One line of standard input without its line end (a password), or exit 2 if it is not UTF-8."""
    try:
        return sys.stdin.readline().rstrip("\r\n")
    except UnicodeDecodeError:
        fail("standard input is not valid UTF-8 text")


def _actor_id(email: str | None) -> int | None:
    if not email:
        return None
    user = find_user(email)
    if user is None:
        fail(f"--as {email}: no such user; create it first with 'manage.py create-user'")
    return user.id


def init_db() -> None:
    """Create or upgrade the schema to the latest migration."""
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory)


@click.command("init-db")
@with_appcontext
@db_errors
def init_db_command() -> None:
    """Create or upgrade the database schema (Alembic upgrade to head)."""
    init_db()
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="viewer", show_default=True)
@click.option("--name", "display_name", default="", help="Display name (defaults to the email's local part).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
@click.option("--as", "as_email", metavar="EMAIL", help="Record this existing user as the creator.")
@click.option("--timezone", metavar="ZONE", help="The user's display time zone (IANA name); default: APP_TIMEZONE.")
@with_appcontext
@db_errors
def create_user_command(email: str, role: str, display_name: str, password_stdin: bool, as_email: str | None,
                        timezone: str | None) -> None:
    """Create a user who can log in to the admin."""
    if password_stdin:
        password = _stdin_line()
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with acting_as(_actor_id(as_email)):
            user = create_user(email, password, role, display_name, timezone)
    except AccountError as exc:
        fail(str(exc))
    click.echo(f"created {user.role} {user.email} (id {user.id})")


@click.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
@db_errors
def set_password_command(email: str, password_stdin: bool) -> None:
    """Set a user's password (for a forgotten admin password)."""
    user = find_user(email) or fail(f"no user {email!r}")
    password = _stdin_line() if password_stdin else click.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        fail("password must have at least 8 characters")
    user.set_password(password, current_app.config["PASSWORD_METHOD"])
    db.session.commit()
    click.echo(f"password set for {user.email}")


@click.command("seed-demo")
@click.option("--users", default=50, show_default=True, type=click.IntRange(1, 1_000_000), help="Users to create.")
@click.option("--items", default=5000, show_default=True, type=click.IntRange(0, 50_000_000), help="Items to create.")
@click.option("--months", default=6, show_default=True, type=click.IntRange(1, 120), help="History span.")
@click.option("--seed", default=1, show_default=True, help="Random seed (same seed, same data).")
@with_appcontext
@db_errors
def seed_demo_command(users: int, items: int, months: int, seed: int) -> None:
    """Insert demo users, bucketlists and items with months of history."""
    from .seed import is_empty, seed_demo

    is_empty()  # a missing schema fails here, as one line, before the progress bar draws
    total = users + max(1, items // 10) + items
    with click.progressbar(length=total, label="seeding", file=sys.stderr, show_pos=True) as bar:
        result = seed_demo(users=users, items=items, months=months, seed=seed, progress=bar.update)
    click.echo(f"made {result.users} users, {result.bucketlists} bucketlists, {result.items} items over "
               f"{result.span_days} days ({result.updated} updated, {result.deleted} deleted)")


@click.command("activity")
@click.option("--since", help="Start of window (inclusive), e.g. 2026-11-01 or '2026-11-01 08:00'.")
@click.option("--until", help="End of window (exclusive).")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--action", "actions", multiple=True, help="created, updated or deleted (repeatable).")
@click.option("--actor", help="Only writes by this email, or 'system'.")
@click.option("--limit", default=str(activity.DEFAULT_LIMIT), show_default=True, help="Events per page (1-500).")
@click.option("--cursor", help="Continue from a cursor printed by a previous page.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@with_appcontext
@db_errors
def activity_command(**opts: Any) -> None:
    """Show recent activity, newest first, with the same filters as the web feed."""
    zone = display_zone()
    args = {"since": opts["since"], "until": opts["until"], "model": list(opts["models"]),
            "action": list(opts["actions"]), "actor": opts["actor"], "limit": opts["limit"], "cursor": opts["cursor"]}
    try:
        page = activity.page_for(args, zone)
    except activity.BadActivityQuery as exc:
        fail(str(exc))
    cursor = activity.encode_cursor(page.next_cursor) if page.next_cursor else None
    if opts["fmt"] == "json":
        click.echo(json.dumps({"events": [e.to_json() for e in page.events], "next_cursor": cursor}, indent=2))
        return
    if opts["fmt"] == "csv":
        from .csvsafe import csv_lines

        rows = ((e.at, e.model, e.id, e.action, e.actor_id, e.actor_email, e.label) for e in page.events)
        for chunk in csv_lines(activity.EVENT_COLUMNS, rows):
            click.echo(chunk, nl=False)
        return
    click.echo(f"{'time (' + str(zone) + ')':<26} {'model':<11} {'id':>8} {'action':<8} {'actor':<28} label")
    for e in page.events:
        click.echo(f"{format_local(e.at, zone):<26} {e.model:<11} {e.id:>8} {e.action:<8} "
                   f"{(e.actor_email or 'system'):<28} {e.label or ''}")
    if not page.events:
        click.echo("(no events)")
    if cursor:
        click.echo(f"older: --cursor {cursor}")


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@with_appcontext
@db_errors
def run_command(host: str, port: int, threads: int) -> None:
    """Serve the app with waitress (a production WSGI server)."""
    from waitress import serve

    click.echo(f"serving http://{host}:{port}/admin/ (Ctrl+C to stop)")
    serve(current_app._get_current_object(), host=host, port=port, threads=threads, ident="admin-app")


@click.command("bootstrap")
@click.option("--admin-email", default="admin@example.com", show_default=True)
@click.option("--demo-users", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--demo-items", default=5000, show_default=True, type=click.IntRange(0, 10_000_000))
@with_appcontext
@db_errors
def bootstrap_command(admin_email: str, demo_users: int, demo_items: int) -> None:
    """Migrate, seed demo data into an empty database, and create an admin (password printed once)."""
    from .seed import is_empty

    init_db()
    if is_empty():
        seed_demo_command.callback(users=demo_users, items=demo_items, months=6, seed=1)  # type: ignore[misc]
    if find_user(admin_email) is None:
        password = random_password()
        try:
            create_user(admin_email, password, "admin", "Administrator")
        except AccountError as exc:
            fail(str(exc))
        click.echo("=" * 60)
        click.echo(f"  admin login: {admin_email}")
        click.echo(f"  password:    {password}   (shown once; change it in Users)")
        click.echo("=" * 60)
    else:
        click.echo(f"admin {admin_email} exists (forgot the password? python manage.py set-password {admin_email})")


COMMANDS = (init_db_command, create_user_command, set_password_command, seed_demo_command, activity_command,
            run_command, bootstrap_command)


def register(app: Flask) -> None:
    from .reporting.cli import report_group

    for command in COMMANDS:
        app.cli.add_command(command)
    app.cli.add_command(report_group)
