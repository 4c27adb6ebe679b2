"""Sections 1-4 of the suite, in process: the feed's first page, deep paging, filtered feeds and the admin pages."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from admin_app import create_app
from admin_app.extensions import db
from admin_app.models import Item
from bench import datasets
from bench.measure import measure
from bench.peers import offset_sql
from bench.server import test_client_login
from flask_activity import activity

MODEL_PAGES = {"dashboard": "/admin/", "activity page": "/admin/activity/", "users list": "/admin/users/",
               "bucketlists list": "/admin/bucketlists/", "items list": "/admin/items/"}


def inprocess(ds: datasets.Dataset, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every in-process figure: through ``activity.fetch_page`` and through the test client as the bench admin."""
    app = create_app(datasets.app_config(ds.url, data_dir))
    out: dict[str, Any] = {}
    rep, budget = args.repeat, args.budget
    with app.app_context():
        counts = activity.count_events(activity.ActivityFilter())
        out["events"] = sum(counts.values())
        out["events_by_branch"] = {f"{m}/{a}": n for (m, a), n in counts.items()}
        # the actor: the user with the median number of created items (every seeded user is alike)
        per_user = db.session.execute(select(Item.created_by_id, func.count()).group_by(Item.created_by_id)
                                      .order_by(func.count(), Item.created_by_id)).all()
        actor_id, actor_items = per_user[len(per_user) // 2]
        oldest = db.session.scalar(select(func.min(Item.created_at)))
        assert oldest is not None, "the benchmark database has no items"
        day = datetime(oldest.year, oldest.month, oldest.day, tzinfo=UTC) + timedelta(days=1)
        first_day = db.session.scalar(select(func.min(activity.model_registry()["user"].attribute("created_at"))))
        assert first_day is not None, "the benchmark database has no users"
        out["params"] = {"actor_id": actor_id, "actor_items_created": actor_items,
                         "window": [day.isoformat(), (day + timedelta(days=1)).isoformat()],
                         "first_event": first_day.isoformat()}

        flt = activity.ActivityFilter()
        feed = {"query_layer": measure(lambda: activity.fetch_page(flt, 50), rep, budget)}
        out["feed"] = feed
        out["paging"] = _paging(flt, out["events"], feed["query_layer"], rep, budget)

        filters = {
            "actor": (activity.ActivityFilter(actor_id=actor_id), {"actor": str(actor_id)}),
            "model=item": (activity.ActivityFilter(models=("item",)), {"model": "item"}),
            "action=deleted": (activity.ActivityFilter(actions=("deleted",)), {"action": "deleted"}),
            "1-day window": (activity.ActivityFilter(since=day, until=day + timedelta(days=1)),
                             {"since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()}),
        }
        filtered: dict[str, Any] = {}
        for name, (f, _q) in filters.items():
            filtered[name] = {"query_layer": measure(partial(activity.fetch_page, f, 50), rep, budget),
                              "rows": len(activity.fetch_page(f, 50).events)}
        db.session.remove()

    client = test_client_login(app)

    def get(path: str, query: dict[str, str] | None = None) -> Callable[[], Any]:
        def call() -> Any:
            resp = client.get(path, query_string=query)
            resp.get_data()
            if resp.status_code != 200:
                raise RuntimeError(f"GET {path} {query or ''}: HTTP {resp.status_code}")
            return resp
        return call

    feed["feed_json_inprocess"] = measure(get("/admin/activity/feed.json"), rep, budget)
    for name, (_f, q) in filters.items():
        filtered[name]["feed_json_inprocess"] = measure(get("/admin/activity/feed.json", q), rep, budget)
    out["filtered"] = filtered
    out["pages"] = {name: measure(get(path), rep, budget) for name, path in MODEL_PAGES.items()}
    with app.app_context():
        db.engine.dispose()
    return out


def _paging(flt: activity.ActivityFilter, events: int, page1: dict[str, Any], rep: int,
            budget: float) -> dict[str, Any]:
    """Page 200 by keyset (the cursor followed there first) against page 1 and against OFFSET paging."""
    depth = min(200, max(2, events // 50))  # page 200, or the last whole page of a tiny history
    cursor = None
    for _ in range(depth - 1):
        cursor = activity.fetch_page(flt, 50, cursor).next_cursor
    deep_cursor = cursor
    deep = measure(lambda: activity.fetch_page(flt, 50, deep_cursor), rep, budget)
    sql = text(offset_sql(depth))
    offset_rows = db.session.execute(sql).all()
    deep_page = activity.fetch_page(flt, 50, deep_cursor).events
    same = [(r.model, r.id, r.action) for r in offset_rows] == [(e.model, e.id, e.action) for e in deep_page]
    offset = measure(lambda: db.session.execute(sql).all(), rep, budget, warm=False)
    db.session.rollback()
    return {"depth": depth, "page1": page1, "deep_keyset": deep, "deep_offset": offset,
            "keyset_over_page1": round(deep["median_ms"] / page1["median_ms"], 2),
            "offset_over_keyset": round(offset["median_ms"] / deep["median_ms"], 1),
            "offset_same_rows_as_keyset": same}
