"""The help desk's own commands: ``flask --app examples.helpdesk init-db`` and ``seed`` (``activity`` and
``report`` come from flask-activity)."""
from __future__ import annotations

import random
import secrets
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from flask_activity import acting_as

from .activity import activity
from .auth import create_account
from .extensions import db
from .models import STATUSES, Account, Comment, Macro, Ticket, utcnow_naive

SUBJECTS = ("Printer on floor 3 jams", "Cannot log in to the VPN", "Invoice #{n} shows the wrong address",
            "Laptop battery swollen", "Request: second monitor", "Password reset for a new starter",
            "Shared drive is read-only", "Phone extension {n} silent", "Calendar invites arrive twice",
            "Wi-Fi drops in meeting room {n}", "Order {n} never arrived", "Refund for order {n}")
REPLIES = ("Thanks, we are looking into it.", "Could you send a screenshot?", "Fixed on our side, please retry.",
           "Waiting for the supplier.", "Closing this one: solved.")


def init_app(app: Flask) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(seed_command)


def init_db() -> None:
    """Bring the schema to the latest migration, and add flask-activity's report_runs table if it is missing."""
    from flask_migrate import upgrade  # Alembic is loaded only by the command that migrates

    upgrade(directory=current_app.extensions["migrate"].directory)
    activity.create_tables()


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database schema."""
    init_db()
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


def seed(days: int = 14, tickets: int = 24, rng: random.Random | None = None) -> dict[str, str]:
    """Accounts (one admin, three agents), tickets and comments spread over ``days`` days (some archived) and a
    few macros; returns username -> password. Refuses a database that has accounts already."""
    rng = rng or random.Random(14)
    if db.session.scalar(select(func.count()).select_from(Account)):
        raise click.ClickException("the database has accounts already; seed only an empty one")
    passwords = {name: secrets.token_urlsafe(12) for name in ("admin", "sam", "kim", "lee")}
    accounts = [create_account(name, password, is_admin=name == "admin") for name, password in passwords.items()]
    agents = accounts[1:]
    now = utcnow_naive()
    for n in range(tickets):
        created = now - timedelta(days=rng.uniform(0, days))
        ticket = Ticket(subject=rng.choice(SUBJECTS).format(n=100 + n), status=rng.choice(STATUSES),
                        requester=rng.choice(agents), created=created, modified=created)
        db.session.add(ticket)
        at = created
        for _ in range(rng.randint(0, 3)):
            at += timedelta(hours=rng.uniform(0.5, 30))
            if at < now:
                db.session.add(Comment(ticket=ticket, author=rng.choice(accounts), body=rng.choice(REPLIES),
                                       created=at, modified=at))
        if rng.random() < 0.5:
            ticket.modified = min(now, created + timedelta(hours=rng.uniform(1, 48)))
        if ticket.status == "solved" and rng.random() < 0.6:
            ticket.archived_at = ticket.modified = min(now, created + timedelta(days=rng.uniform(1, 3)))
    db.session.commit()
    with acting_as(accounts[0].id):
        macros = [Macro(title=title, body=body) for title, body in (
            ("Greeting", "Hello, thanks for contacting the help desk."),
            ("Need more details", "Could you tell us what you did just before the problem started?"),
            ("Old VPN client", "Please install the new VPN client from the portal."))]
        db.session.add_all(macros)
        db.session.commit()
        macros[-1].soft_delete()
        db.session.commit()
    return passwords


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Fill an empty database with demo accounts, tickets, comments and macros; prints the passwords once."""
    passwords = seed()
    for name, password in passwords.items():
        role = "admin" if name == "admin" else "agent"
        click.echo(f"{role:<6} {name:<6} password: {password}")
    click.echo("log in at /accounts/login")
