"""Demo data with realistic history, inserted in bulk (1,000,000 items in about a minute)."""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, insert, select

from flask_activity.types import utcnow

from .extensions import Model, db
from .models import Bucketlist, Item, User

WORDS = ("visit", "learn", "climb", "see", "cook", "run", "write", "build", "sail", "read", "paint", "swim",
         "Kyoto", "Patagonia", "the Alps", "a novel", "a marathon", "Iceland", "piano", "Spanish", "a cabin",
         "the aurora", "Machu Picchu", "a garden", "Lisbon", "the Nile", "a kayak", "bread", "a podcast")
CHUNK = 10_000

if TYPE_CHECKING:
    from psycopg import Connection


@dataclass
class SeedResult:
    users: int
    bucketlists: int
    items: int
    updated: int
    deleted: int
    span_days: int


def bulk_insert(model: type[Model], rows: list[dict[str, Any]]) -> None:
    """Insert rows in one round trip: COPY on PostgreSQL (several times faster), executemany elsewhere."""
    if not rows:
        return
    session = db.session
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(model), rows)
        return
    columns = list(rows[0])
    for name in columns:  # the same guarantees as the column type: aware datetimes only
        value = rows[0][name]
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError(f"{name}: naive datetime")
    # COPY is psycopg's (3) own API, the PostgreSQL driver DATABASE_URL names (postgresql+psycopg://).
    raw = cast("Connection[Any]", session.connection().connection.dbapi_connection)
    table = model.__tablename__
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _history(rng: random.Random, start: datetime, end: datetime, p_update: float, p_delete: float,
             stats: list[int]) -> tuple[datetime, datetime, datetime | None, bool]:
    """created, updated, deleted timestamps for one row; updated == deleted for a deletion."""
    span = (end - start).total_seconds()
    created = start + timedelta(seconds=rng.random() * span)
    updated, deleted = created, None
    rest = (end - created).total_seconds()
    if rng.random() < p_update:
        updated = created + timedelta(seconds=rng.random() * rest)
        stats[0] += 1
    if rng.random() < p_delete:
        deleted = updated + timedelta(seconds=rng.random() * (end - updated).total_seconds())
        updated = deleted
        stats[1] += 1
    return created, updated, deleted, updated != created


def seed_demo(users: int = 50, items: int = 5_000, months: int = 6, seed: int = 1,
              progress: Callable[[int], None] | None = None, p_update: float = 0.30,
              p_delete: float = 0.05) -> SeedResult:
    """Insert users, bucketlists (one per ~10 items) and items spread over ``months``.

    About ``p_update`` of the rows were changed after creation and ``p_delete`` soft-deleted,
    each by a random user. ``progress`` is called with the number of rows just written.
    """
    rng = random.Random(seed)
    end = utcnow()
    start = end - timedelta(days=30 * months)
    stats = [0, 0]
    session = db.session
    taken = set(session.scalars(select(User.email)))
    # Users arrive in the first third of the period so their bucketlists come after them.
    user_rows = []
    for n in range(users):
        email = f"user{n + 1}@example.com"
        if email in taken:
            email = f"user{n + 1}.{rng.randrange(10**6)}@example.com"
        created, updated, _, _ = _history(rng, start, start + (end - start) / 3, 0.2, 0, stats)
        user_rows.append(dict(email=email, display_name=f"Demo User {n + 1}", role="viewer",
                              password_hash="!", active=True, created_at=created, updated_at=updated))
    bulk_insert(User, user_rows)
    user_ids = list(session.scalars(select(User.id).order_by(User.id)))
    if progress:
        progress(len(user_rows))

    n_lists = max(1, items // 10) if items else 0
    list_start = start + (end - start) / 3
    for offset in range(0, n_lists, CHUNK):
        rows = []
        for _ in range(min(CHUNK, n_lists - offset)):
            owner = rng.choice(user_ids)
            created, updated, deleted, changed = _history(rng, list_start, end, p_update, p_delete / 2, stats)
            rows.append(dict(title=f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)}", description="",
                             owner_id=owner, created_at=created, updated_at=updated, deleted_at=deleted,
                             created_by_id=owner, updated_by_id=rng.choice(user_ids) if changed else owner))
        bulk_insert(Bucketlist, rows)
        if progress:
            progress(len(rows))
    list_ids = list(session.scalars(select(Bucketlist.id).order_by(Bucketlist.id)))

    today = date.today()
    for offset in range(0, items, CHUNK):
        rows = []
        for _ in range(min(CHUNK, items - offset)):
            who = rng.choice(user_ids)
            created, updated, deleted, changed = _history(rng, list_start, end, p_update, p_delete, stats)
            bucketlist_id = rng.choice(list_ids)  # drawn in this order: the same seed gives the same data
            title = f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)}"
            rows.append(dict(bucketlist_id=bucketlist_id, title=title, done=changed and rng.random() < 0.5,
                             due_date=today + timedelta(days=rng.randrange(-90, 400)) if rng.random() < 0.4 else None,
                             created_at=created, updated_at=updated, deleted_at=deleted, created_by_id=who,
                             updated_by_id=rng.choice(user_ids) if changed else who))
        bulk_insert(Item, rows)
        if progress:
            progress(len(rows))
    session.commit()
    return SeedResult(len(user_rows), n_lists, items, stats[0], stats[1], 30 * months)


def is_empty() -> bool:
    """True when the database holds no users at all."""
    return (db.session.scalar(select(func.count()).select_from(User)) or 0) == 0
