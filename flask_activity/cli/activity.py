"""`manage.py activity`: the recent-activity feed as a table, JSON or CSV, with the web feed's filters."""
from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext

from .. import activity
from ..csvsafe import csv_lines
from ..timefmt import display_zone, format_local
from ..types import utcnow
from .errors import db_errors, fail


@click.group("activity", invoke_without_command=True)
@click.option("--since", help="Start of window (inclusive), e.g. 2026-11-01 or '2026-11-01 08:00'.")
@click.option("--until", help="End of window (exclusive).")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--action", "actions", multiple=True, help="created, updated or deleted (repeatable).")
@click.option("--actor", help="Only writes by this user (email or user name), or 'system'.")
@click.option("--record", metavar="MODEL:ID", help="Only one record's events, e.g. item:42.")
@click.option("--limit", default=str(activity.DEFAULT_LIMIT), show_default=True, help="Events per page (1-500).")
@click.option("--cursor", help="Continue from a cursor printed by a previous page.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_context
@with_appcontext
@db_errors
def activity_command(ctx: click.Context, **opts: Any) -> None:
    """Show recent activity, newest first, with the same filters as the web feed (or run a subcommand: doctor)."""
    if ctx.invoked_subcommand is not None:
        return
    zone = display_zone()
    args = {"since": opts["since"], "until": opts["until"], "model": list(opts["models"]),
            "action": list(opts["actions"]), "actor": opts["actor"], "limit": opts["limit"], "cursor": opts["cursor"]}
    if opts["record"]:
        model, _, record = opts["record"].partition(":")
        if not record or opts["models"]:
            fail("--record: give MODEL:ID, e.g. item:42 (and no --model: the record names its model)")
        args.update(model=[model], id=record)
    try:
        page = activity.page_for(args, zone)
    except activity.BadActivityQuery as exc:
        fail(str(exc))
    cursor = activity.encode_cursor(page.next_cursor) if page.next_cursor else None
    if opts["fmt"] == "json":
        notes = activity.model_notes()  # as feed.json: present only when a model records less
        click.echo(json.dumps({"events": [e.to_json() for e in page.events], "next_cursor": cursor,
                               **({"notes": notes} if notes else {})}, indent=2))
        return
    if opts["fmt"] == "csv":
        rows = ((e.at, e.model, e.id, e.action, e.actor_id, e.actor_email, e.label) for e in page.events)
        for chunk in csv_lines(activity.event_columns(), rows):
            click.echo(chunk, nl=False)
        return
    click.echo(f"{'time (' + str(zone) + ')':<26} {'model':<11} {'id':>8} {'action':<8} {'actor':<28} label")
    specs = activity.model_registry()
    for e in page.events:
        # as the web feed: "system" only where the model records who acted, else "not recorded"
        who = e.actor_email or ("system" if specs[e.model].actor(e.action) is not None else "not recorded")
        click.echo(f"{format_local(e.at, zone):<26} {e.model:<11} {e.id:>8} {e.action:<8} "
                   f"{who:<28} {e.label or ''}")
    if not page.events:
        click.echo("(no events)")
    if cursor:
        click.echo(f"older: --cursor {cursor}")


@click.command("counts")
@click.option("--days", default=activity.STORED_DAYS, show_default=True, type=click.IntRange(1, 400),
              help="Days of quarter-hour counts to keep (the chart shows 30; a day more covers every zone).")
@with_appcontext
@db_errors
def counts_command(days: int) -> None:
    """Count the dashboard's shared counts again now (the scheduler does it every DASHBOARD_COUNTS_REFRESH
    seconds; this is for a host that runs no scheduler, from cron, or to see what a refresh costs)."""
    if not activity.shared_counts_ready():
        fail(f"the table {activity.EventCount.__tablename__} is missing: migrate the database (the operations are "
             "in 'flask activity doctor'; ActivityReporting.create_tables() without migrations)")
    done = activity.refresh_counts(utcnow(), days=days)
    if done is not None:  # always, without if_older_than
        click.echo(f"counted {done.events:,} events into {done.rows:,} quarter hours from {format_local(done.since)} "
                   f"to {format_local(done.until)} in {done.duration_ms:,} ms")
