"""`flask subscription ...` and `flask deliveries`: subscriptions from the shell, for an owner named with --as
(thin wrappers over flask_activity.delivery; errors are one line and exit status 2)."""
from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from ..activity import BadActivityQuery, resolve_actor
from ..delivery import deliverer
from ..delivery.models import Delivery, Subscription
from ..delivery.subscriptions import (
    CADENCES,
    WEEKDAYS,
    SubscriptionError,
    SubscriptionInput,
    describe_cadence,
    load_owner,
    save,
    set_paused,
)
from ..state import db
from ..timefmt import format_local
from ..types import utcnow
from .errors import db_errors, fail


def _owner(person: str) -> Any:
    try:
        key = resolve_actor(person)
    except BadActivityQuery as exc:
        fail(f"--as: {str(exc).removeprefix('actor: ')}")
    owner = load_owner(str(key))
    if owner is None:
        fail(f"--as: no user {person!r}")
    return owner


def _subscription(sub_id: int, owner: Any | None = None) -> Subscription:
    sub = db.session.get(Subscription, sub_id)
    if sub is None or (owner is not None and sub.owner_key != str(owner.get_id())):
        fail(f"no subscription {sub_id}" + (" of that user" if owner is not None else "") +
             "; 'subscription list' shows them")
    return sub


@click.group("subscription")
def subscription_group() -> None:
    """Subscriptions: a saved feed filter delivered by email, webhook or in the app."""


@subscription_group.command("list")
@click.option("--as", "person", metavar="EMAIL", help="Only this user's subscriptions.")
@with_appcontext
@db_errors
def list_command(person: str | None) -> None:
    """Each subscription: owner, filters, cadence, channels, status and where each channel has got to."""
    query = select(Subscription).order_by(Subscription.id)
    if person:
        query = query.where(Subscription.owner_key == str(_owner(person).get_id()))
    for sub in db.session.scalars(query):
        channels = ", ".join(sub.channels() + (["app"] if sub.in_app else [])) or "none"
        status = f"paused: {sub.paused_reason}" if sub.paused_at else "active"
        click.echo(f"{sub.id:>4}  {sub.name}  [{describe_cadence(sub.schedule, sub.timezone)}]  {channels}  "
                   f"filters {sub.filters or 'all events'}  {status}  "
                   f"email up to {format_local(sub.email_cursor)}  webhook up to {format_local(sub.webhook_cursor)}")


@subscription_group.command("add")
@click.argument("name")
@click.option("--as", "person", required=True, metavar="EMAIL", help="The owner (a user of the app).")
@click.option("--model", multiple=True, help="Only this model (repeatable).")
@click.option("--action", multiple=True, help="Only this action: created, updated, deleted (repeatable).")
@click.option("--actor", help="Only writes by this user (email or id), or 'system'.")
@click.option("--cadence", type=click.Choice(CADENCES), default="hourly", show_default=True,
              help="live is every minute; daily and weekly take --at (and --weekday).")
@click.option("--at", default="08:00", show_default=True, help="HH:MM for daily and weekly, in --timezone.")
@click.option("--weekday", type=click.Choice(WEEKDAYS), default="mon", show_default=True)
@click.option("--cron", default="", help="A 5-field cron expression, with --cadence cron.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of the cadence and of the times shown.")
@click.option("--email/--no-email", default=False, help="Email the owner.")
@click.option("--webhook", "webhook_url", default="", help="POST each delivery to this https URL (signed).")
@click.option("--in-app/--no-in-app", default=True, show_default=True)
@click.option("--send-empty", is_flag=True, help="Send even when a period has no events.")
@with_appcontext
@db_errors
def add_command(name: str, person: str, model: tuple[str, ...], action: tuple[str, ...], actor: str | None,
                cadence: str, at: str, weekday: str, cron: str, timezone: str, email: bool, webhook_url: str,
                in_app: bool, send_empty: bool) -> None:
    """Save a subscription for the user named by --as; a webhook's signing secret is printed once."""
    owner = _owner(person)
    filters = {"model": list(model), "action": list(action), "actor": actor or ""}
    given = SubscriptionInput(name, filters, cadence, at, weekday, cron, timezone, email, webhook_url, in_app,
                              send_empty)
    try:
        sub, secret = save(owner, given)
    except SubscriptionError as exc:
        db.session.rollback()
        fail(f"--{exc.field.replace('_', '-')}: {exc}")
    click.echo(f"subscription {sub.id} saved: {sub.name}, {describe_cadence(sub.schedule, sub.timezone)}")
    if secret:
        click.echo(f"webhook signing secret (shown once): {secret}")


@subscription_group.command("pause")
@click.argument("sub_id", type=int)
@with_appcontext
@db_errors
def pause_command(sub_id: int) -> None:
    """Stop delivering (the cursors stay; resuming delivers what happened meanwhile)."""
    set_paused(_subscription(sub_id), True)
    click.echo(f"subscription {sub_id} paused")


@subscription_group.command("resume")
@click.argument("sub_id", type=int)
@with_appcontext
@db_errors
def resume_command(sub_id: int) -> None:
    """Deliver again, from where each channel stopped."""
    set_paused(_subscription(sub_id), False)
    click.echo(f"subscription {sub_id} resumed")


@subscription_group.command("remove")
@click.argument("sub_id", type=int)
@with_appcontext
@db_errors
def remove_command(sub_id: int) -> None:
    """Delete a subscription and its delivery log."""
    db.session.delete(_subscription(sub_id))
    db.session.commit()
    click.echo(f"subscription {sub_id} removed")


@subscription_group.command("test")
@click.argument("sub_id", type=int)
@with_appcontext
@db_errors
def test_command(sub_id: int) -> None:
    """Send the last day's events on each channel now, marked as a test (nothing moves on). Exit 1 if one failed."""
    sub = _subscription(sub_id)
    owner = load_owner(sub.owner_key)
    if not sub.channels():
        fail(f"subscription {sub_id} has no email or webhook channel to test")
    failed = False
    for channel in sub.channels():
        try:
            delivery = deliverer.send_test(sub, channel, owner, utcnow())
        except SubscriptionError as exc:
            fail(str(exc))
        failed = failed or delivery.status != "tested"
        click.echo(f"{channel} to {delivery.target}: {delivery.status}"
                   + (f" ({delivery.error})" if delivery.error else f", {delivery.events} events"))
    if failed:
        raise SystemExit(1)


@click.command("deliveries")
@click.option("--failed", is_flag=True, help="Only failed deliveries.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@with_appcontext
@db_errors
def deliveries_command(failed: bool, limit: int) -> None:
    """The delivery log, newest first: channel, target, window, status, code, attempts, events, error."""
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if failed:
        query = query.where(Delivery.status.in_(("failed", "test-failed")))
    for d in db.session.scalars(query):
        click.echo(f"{d.id:>5}  sub {d.subscription_id}  {d.channel:<7} {d.status:<11} {d.key}  "
                   f"{format_local(d.window_start)} .. {format_local(d.window_end)}  events {d.events}  "
                   f"attempts {d.attempts}  code {d.code}  {d.response_ms or '-'} ms  {d.target}"
                   + (f"  error: {d.error}" if d.error else ""))
