"""The help desk's own reports: plain definitions, which flask-activity runs, schedules, keeps and lists."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from flask_activity import ReportDefinition, RunContext, activity
from flask_activity.csvsafe import Chunk

from .models import Account, Ticket


def helpdesk_events(ctx: RunContext, size: int) -> Iterator[Chunk]:
    """Every ticket, comment and macro event in the window, newest first (the feed's own CSV)."""
    flt = activity.ActivityFilter(since=ctx.since, until=ctx.until)
    return activity.iter_event_csv(flt, chunk_size=size, session=ctx.session)


def open_tickets(ctx: RunContext) -> Any:
    """Tickets still in the queues (not solved, not archived), oldest first."""
    return (select(Ticket.id, Ticket.subject, Ticket.status, Account.username, Ticket.created, Ticket.modified)
            .join(Account, Ticket.requester_id == Account.id)
            .where(Ticket.archived_at.is_(None), Ticket.status != "solved")
            .order_by(Ticket.created, Ticket.id))


REPORTS = (
    ReportDefinition(
        name="helpdesk-activity", title="Help desk activity",
        description="Every ticket, comment and macro event in the window, newest first.",
        columns=("at", "model", "id", "action", "actor_id", "actor_username", "label"),
        chunks=helpdesk_events, schedule="30 6 * * *", timezone="UTC", retention_days=60,
    ),
    ReportDefinition(
        name="open-tickets", title="Open tickets",
        description="A snapshot of the tickets still in the queues.",
        columns=("id", "subject", "status", "requester", "created", "modified"),
        query=open_tickets, retention_days=30, default_period="today",
    ),
)
