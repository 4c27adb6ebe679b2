"""Subscription delivery at scale: one scheduler tick over 1,000 subscriptions with mixed filters, on the cached
benchmark databases, sending to a local SMTP sink and a local webhook receiver on 127.0.0.1.

For each database and size, in a process of its own (so its peak RSS is its own):

* email: 1,000 subscriptions (every model, one model, one action, one model and action, one actor) whose hour just
  ended holds 2,000 fresh events; one `deliverer.tick(now)` finds, claims, queries, builds and sends every due
  delivery: seconds per 1,000 subscriptions, deliveries and events sent, queries per delivery;
* webhook: 200 subscriptions posting to a local receiver: deliveries per second;
* growth: the 5M figure against the 1M one (the windows are the same size, so only the tables grew).

The subscriptions and events it adds are removed afterwards (the cached databases stay as they were).

    .venv/bin/python -m bench.delivery                              # both databases, 1M and 5M items
    .venv/bin/python -m bench.delivery --db sqlite --sizes 100000   # quick
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.datasets import DEFAULT_DATA_DIR, ensure, prepare

SUBSCRIPTIONS = 1000
HOOKS = 200
FRESH_EVENTS = 200  # an hour's writes: each delivery lists up to this many (below DIGEST_MAX_EVENTS: no CSV)
TARGET_S_PER_1000 = 2.0
GROWTH_MAX = 1.5


SINK = """
import time
from aiosmtpd.controller import Controller
class Discard:
    async def handle_DATA(self, server, session, envelope):
        return '250 OK'
Controller(Discard(), hostname='127.0.0.1', port={port}).start()
print('ready', flush=True)
time.sleep(3600)
"""


def child(url: str, data_dir: str) -> dict[str, Any]:
    """One database: seed the subscriptions and a fresh hour of events, tick once for email, once for webhooks."""
    import resource
    import threading
    import time
    from datetime import timedelta
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from sqlalchemy import delete, event, select, update

    from admin_app import create_app
    from admin_app.extensions import db
    from admin_app.models import Bucketlist, Item, User
    from bench.datasets import ADMIN_EMAIL, app_config
    from flask_activity.activity import count_events
    from flask_activity.delivery import deliverer
    from flask_activity.delivery.models import Delivery, Subscription
    from flask_activity.delivery.subscriptions import window_filter
    from flask_activity.testing.server import free_port
    from flask_activity.types import utcnow

    # The SMTP sink runs in a process of its own: parsing 1,000 messages must not share this one's interpreter.
    smtp_port, hook_port = free_port(), free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK.format(port=smtp_port)], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hook_port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    app = create_app(app_config(url, Path(data_dir), SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
                                MAIL_FROM="bench@example.com", WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE=True,
                                DELIVERY_SETTLE_SECONDS=0))
    out: dict[str, Any] = {}
    with app.app_context():
        admin_id = db.session.scalars(select(User.id).where(User.email == ADMIN_EMAIL)).one()
        actor_ids = db.session.scalars(select(User.id).order_by(User.id).limit(20)).all()
        # An hour ahead of the seeded history, so every size's windows hold exactly the FRESH_EVENTS written here
        # (the seed spreads its events up to now: a 5M database has five times as many in the current hour).
        start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        now = start + timedelta(hours=1)
        bucketlist = db.session.scalars(select(Bucketlist).limit(1)).one()
        fresh = [Item(bucketlist_id=bucketlist.id, title=f"fresh {i}", created_by_id=actor_ids[i % len(actor_ids)],
                      updated_by_id=actor_ids[i % len(actor_ids)],
                      created_at=start + timedelta(seconds=1 + i), updated_at=start + timedelta(seconds=1 + i))
                 for i in range(FRESH_EVENTS)]
        db.session.add_all(fresh)
        db.session.commit()
        shapes: list[dict[str, Any]] = [{}, {"model": ["item"]}, {"action": ["created"]},
                                        {"model": ["bucketlist"], "action": ["updated"]}]

        def subscriptions(n: int, channel: str) -> None:
            subs = []
            for i in range(n):
                filters: dict[str, Any] = dict(shapes[i % len(shapes)])
                if i % 5 == 4:
                    filters = {"actor": str(actor_ids[i % len(actor_ids)])}
                subs.append(Subscription(name=f"bench {channel} {i}", owner_key=str(admin_id), filters=filters,
                                         schedule="0 * * * *", timezone="UTC", email=channel == "email",
                                         webhook_url=f"http://127.0.0.1:{hook_port}/hook" if channel == "webhook"
                                         else None, webhook_salt="bench", in_app=False,
                                         email_cursor=start, webhook_cursor=start, seen_cursor=start,
                                         created_at=start))
            db.session.add_all(subs)
            db.session.commit()

        queries = [0]

        def count(*_: Any) -> None:
            queries[0] += 1

        try:
            for channel, n in (("email", SUBSCRIPTIONS), ("webhook", HOOKS)):
                subscriptions(n, channel)
                db.session.remove()
                # "Find": which windows are due and how many events each holds, for every subscription on its own
                # (no sharing between subscriptions): the query side of a tick, which grows with the tables.
                found_began = time.perf_counter()
                due_events = 0
                for sub in db.session.scalars(select(Subscription).where(Subscription.paused_at.is_(None))):
                    end, _ = deliverer._fires(sub, sub.cursor(channel), now + timedelta(seconds=1))
                    if end is not None:
                        due_events += sum(count_events(window_filter(sub, sub.cursor(channel), end)).values())
                find_seconds = time.perf_counter() - found_began
                db.session.remove()
                event.listen(db.engine, "before_cursor_execute", count)
                queries[0] = 0
                began = time.perf_counter()
                made = deliverer.tick(now + timedelta(seconds=1))
                seconds = time.perf_counter() - began
                event.remove(db.engine, "before_cursor_execute", count)
                sent = [d for d in made if d.status == "sent"]
                out[channel] = {"subscriptions": n, "find_seconds": round(find_seconds, 3), "due_events": due_events,
                                "find_seconds_per_1000": round(find_seconds * 1000 / n, 3),
                                "seconds": round(seconds, 3),
                                "seconds_per_1000": round(seconds * 1000 / n, 3),
                                "per_second": round(len(sent) / seconds, 1), "deliveries": len(made),
                                "sent": len(sent), "events": sum(d.events or 0 for d in sent),
                                "queries_per_delivery": round(queries[0] / max(1, len(made)), 1)}
                db.session.execute(update(Subscription).values(paused_at=now))  # not seen by the next tick
                db.session.commit()
            out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        finally:
            db.session.rollback()
            db.session.execute(delete(Delivery))
            db.session.execute(delete(Subscription))
            db.session.execute(delete(Item).where(Item.title.like("fresh %"), Item.created_at >= start))
            db.session.commit()
            sink.terminate()
            server.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument("--child", nargs=2, metavar=("URL", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    results: list[dict[str, Any]] = []
    for name in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        for n in (int(s) for s in args.sizes.split(",")):
            ds = ensure(name, n, args.data_dir)
            prepare(ds, args.data_dir)
            done = subprocess.run([sys.executable, "-m", "bench.delivery", "--child", ds.url, str(args.data_dir)],
                                  cwd=ROOT, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            results.append({"db": name, "items": n, **figures})
            e, w = figures["email"], figures["webhook"]
            print(f"{name:<10} {n:>10,} items: find every due window and count its events: "
                  f"{e['find_seconds_per_1000']} s per 1,000 (target < {TARGET_S_PER_1000}: "
                  f"{'met' if e['find_seconds_per_1000'] < TARGET_S_PER_1000 else 'MISSED'}); the whole tick, "
                  f"emails built and sent: {e['sent']:,}/{e['subscriptions']:,} in {e['seconds']} s "
                  f"({e['seconds_per_1000']} s per 1,000; "
                  f"{'met' if e['seconds_per_1000'] < TARGET_S_PER_1000 else 'MISSED'}), "
                  f"{e['events']:,} events, {e['queries_per_delivery']} queries each; webhook {w['per_second']}/s; "
                  f"peak RSS {figures['peak_rss_mb']} MB")
    for name in ("sqlite", "postgresql"):
        mine = sorted((r for r in results if r["db"] == name), key=lambda r: r["items"])
        if len(mine) >= 2:
            for part, key in (("find", "find_seconds"), ("tick", "seconds")):
                growth = mine[-1]["email"][key] / mine[0]["email"][key]
                print(f"{name}: {mine[0]['items']:,} -> {mine[-1]['items']:,} items: {part} {growth:.2f}x "
                      f"(target <= {GROWTH_MAX}x: {'met' if growth <= GROWTH_MAX else 'MISSED'})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
