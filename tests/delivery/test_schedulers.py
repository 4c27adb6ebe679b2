"""Two real scheduler processes delivering the same subscriptions over several periods, with writes in between:
every event is delivered exactly once per subscription and channel, no window twice; a process killed with
SIGKILL between sending and recording leaves a delivery the next process sends again with the same id."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from tests import factories
from tests.delivery.helpers import deliveries, item_ids, items_at, minute_after, subscribe

ROOT = Path(__file__).resolve().parents[2]
PERIODS = 5
SHARED = ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "SMTP_URL", "MAIL_FROM", "WEBHOOK_ALLOW_HTTP",
          "WEBHOOK_ALLOW_PRIVATE", "WEBHOOK_TIMEOUT", "SMTP_TIMEOUT", "DELIVERY_RETRY_BASE", "DELIVERY_RETRY_WINDOW",
          "DELIVERY_SETTLE_SECONDS", "ACTIVITY_BASE_URL", "PASSWORD_METHOD")


def schedulers(app: Flask, now: datetime, count: int = 2, die: bool = False) -> list[list[list[str]]]:
    """``count`` scheduler processes waking at ``now`` together; what each delivered (channel, status, key)."""
    config = {k: app.config[k] for k in SHARED} | {"TESTING": True}
    args = [sys.executable, "-m", "tests.delivery.tick_process", json.dumps(config), now.isoformat()]
    procs = [subprocess.Popen(args + (["--die"] if die else []), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(count)]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        if die:
            assert proc.returncode == -9, stderr[-2000:]
            continue
        assert proc.returncode == 0, stderr[-2000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def test_two_scheduler_processes_deliver_every_event_once_and_no_window_twice(app, admin_user, smtp, receiver):
    email_sub, _ = subscribe(admin_user, filters={"model": ["item"]})
    hook_sub, _ = subscribe(admin_user, name="Hook", email=False, webhook_url=receiver.url,
                            filters={"model": ["item"]})
    start = max(email_sub.email_cursor, hook_sub.webhook_cursor)
    bucketlist = factories.bucketlist(admin_user)
    written: list[int] = []
    claimed: Counter[str] = Counter()
    for n in range(1, PERIODS + 1):
        when = minute_after(start, n - 1) + timedelta(seconds=30) if n > 1 else start + timedelta(milliseconds=1)
        written += items_at(bucketlist, when, 3, title=f"p{n}")
        for made in schedulers(app, minute_after(start, n) + timedelta(seconds=1)):
            claimed.update(status for _, status, _ in made)

    emailed = Counter(i for message in smtp.messages for i in item_ids(message))
    hooked = Counter(e["id"] for r in receiver.requests for e in json.loads(r["body"])["events"])
    assert emailed == hooked == Counter(written)  # every event once, on each channel
    assert claimed == Counter({"sent": 2 * PERIODS})  # each window sent by one of the two processes
    for sub in (email_sub, hook_sub):
        windows = [d.window_start for d in deliveries(sub)]
        assert len(windows) == len(set(windows)) == PERIODS


def test_a_scheduler_killed_between_sending_and_recording_is_followed_by_the_same_id(app, admin_user, smtp):
    sub, _ = subscribe(admin_user, filters={"model": ["item"]})
    start = sub.email_cursor
    bucketlist = factories.bucketlist(admin_user)
    ids = items_at(bucketlist, start + timedelta(milliseconds=1), 2)  # inside the first minute, whenever it is
    schedulers(app, minute_after(start) + timedelta(seconds=1), count=1, die=True)
    [sending] = deliveries(sub)
    assert sending.status == "sending" and len(smtp.messages) == 1  # sent, never recorded

    [[(channel, status, key)]] = schedulers(app, minute_after(start, 2) + timedelta(seconds=1), count=1)
    assert (channel, status, key) == ("email", "sent", sending.key)
    assert [m["Message-ID"] for m in smtp.messages] == [smtp.messages[0]["Message-ID"]] * 2
    assert sorted(item_ids(smtp.messages[1])) == sorted(ids)
    statuses: dict[str, Any] = {d.id: d.status for d in deliveries(sub)}
    assert sorted(statuses.values()) == ["lost", "sent"]
