"""`manage.py bootstrap`: migrate, seed an empty database, and create the first admin, in one step."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from flask_activity.cli.errors import db_errors, fail

from ..accounts import AccountError, create_user, find_user, random_password
from ..seed import is_empty
from .db import init_db
from .demo import seed_with_progress


@click.command("bootstrap")
@click.option("--admin-email", default="admin@example.com", show_default=True)
@click.option("--demo-users", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--demo-items", default=5000, show_default=True, type=click.IntRange(0, 10_000_000))
@with_appcontext
@db_errors
def bootstrap_command(admin_email: str, demo_users: int, demo_items: int) -> None:
    """Migrate, seed demo data into an empty database, and create an admin (password printed once)."""
    init_db()
    if is_empty():
        seed_with_progress(users=demo_users, items=demo_items, months=6, seed=1)
    if find_user(admin_email) is not None:
        click.echo(f"admin {admin_email} exists (forgot the password? python manage.py set-password {admin_email})")
        return
    password = random_password()
    try:
        create_user(admin_email, password, "admin", "Administrator")
    except AccountError as exc:
        fail(str(exc))
    click.echo("=" * 60)
    click.echo(f"  admin login: {admin_email}")
    click.echo(f"  password:    {password}   (shown once; change it in Users)")
    click.echo("=" * 60)
