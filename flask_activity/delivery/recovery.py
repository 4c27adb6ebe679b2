"""Deliveries whose sender died: found at each tick and marked 'lost', so their window is sent again with the
same id (the receiver may already have it)."""
from __future__ import annotations

import socket
from datetime import datetime, timedelta

from sqlalchemy import select

from ..reporting.runs import process_alive
from ..state import db
from ..types import utcnow
from .models import Delivery

STALE_AFTER = timedelta(hours=1)


def recover(now: datetime | None = None) -> list[Delivery]:
    """Deliveries left 'sending' by a process that is gone (this host) or for over an hour (any host) become
    'lost' (it may have arrived); their window is sent again at the next fire time, with the same id."""
    now = now or utcnow()
    host = socket.gethostname()
    found = db.session.scalars(select(Delivery).where(Delivery.status.in_(("sending", "testing")))).all()
    stale = [d for d in found
             if (d.host == host and not (d.pid and process_alive(d.pid))) or now - d.started_at > STALE_AFTER]
    for delivery in stale:
        delivery.status = "test-failed" if delivery.test else "lost"
        delivery.finished_at = now
        delivery.error = (f"the process sending it stopped before it recorded the outcome (pid {delivery.pid} on "
                          f"{delivery.host}); it is sent again with the same id")
    if stale:
        db.session.commit()
    return list(stale)
