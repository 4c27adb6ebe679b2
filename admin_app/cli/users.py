"""`manage.py create-user` and `set-password`: thin wrappers over admin_app.accounts."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from flask_activity.audit import acting_as
from flask_activity.cli.errors import db_errors, fail, stdin_line

from ..accounts import AccountError, create_user, find_user, set_password
from ..extensions import db
from ..models import ROLES


def actor_id(email: str | None) -> int | None:
    """The id of the existing user named by ``--as EMAIL`` (None without one); exit 2 if there is no such user."""
    if not email:
        return None
    user = find_user(email)
    if user is None:
        fail(f"--as {email}: no such user; create it first with 'manage.py create-user'")
    return user.id


def _read_password(from_stdin: bool) -> str:
    """The new password: one line of standard input, or typed twice at a hidden prompt."""
    if from_stdin:
        return stdin_line()
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--name", "display_name", default="", help="Display name (defaults to the email's local part).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
@click.option("--as", "as_email", metavar="EMAIL", help="Record this existing user as the creator.")
@click.option("--timezone", metavar="ZONE", help="The user's display time zone (IANA name); default: APP_TIMEZONE.")
@with_appcontext
@db_errors
def create_user_command(email: str, role: str, display_name: str, password_stdin: bool, as_email: str | None,
                        timezone: str | None) -> None:
    """Create a user who can log in to the admin."""
    password = _read_password(password_stdin)
    try:
        with acting_as(actor_id(as_email)):
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
    password = _read_password(password_stdin)
    try:
        set_password(user, password)
    except AccountError as exc:
        fail(str(exc))
    db.session.commit()
    click.echo(f"password set for {user.email}")
