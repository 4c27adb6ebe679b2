"""Query plans of the feed page for each filtered feed (EXPLAIN on SQLite, EXPLAIN on PostgreSQL).

Usage (against a database made with `manage.py seed-demo` or `make bench`):

    .venv/bin/python -m bench.plans DATABASE_URL

Prints, per filter, the plan of the statement `activity.fetch_page` runs: every (model, action) branch
should be an index range scan (SQLite "SEARCH ... USING INDEX", PostgreSQL "Index Scan Backward")
feeding a LIMIT, with the final sort over at most 9 x 51 rows.
"""
from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from admin_app import create_app
from admin_app.extensions import db
from admin_app.models import Item
from flask_activity import activity
from flask_activity.activity.events import branches
from flask_activity.activity.statements import page_select


def plan(stmt: Any, params: dict[str, Any]) -> list[str]:
    """EXPLAIN of a statement with its parameters (rendered as literals: our own typed values), as printed."""
    sql = str(stmt.params(**params).compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name == "sqlite":
        return [row[3] for row in db.session.execute(text("EXPLAIN QUERY PLAN " + sql))]
    return [row[0] for row in db.session.execute(text("EXPLAIN " + sql))]


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "plans", "APP_ENV": "testing"})
    with app.app_context():
        oldest = db.session.scalar(select(func.min(Item.created_at)))
        if oldest is None:
            raise SystemExit("the database has no items: seed it first (manage.py seed-demo)")
        actor = db.session.scalar(select(Item.created_by_id).where(Item.created_by_id.is_not(None)).limit(1))
        filters = {
            "one actor": activity.ActivityFilter(actor_id=actor),
            "one model (item)": activity.ActivityFilter(models=("item",)),
            "one action (deleted)": activity.ActivityFilter(actions=("deleted",)),
            "a 1-day window at the oldest end": activity.ActivityFilter(since=oldest, until=oldest + timedelta(days=1)),
        }
        print(f"database: {db.engine.dialect.name}")
        for name, flt in filters.items():
            chosen = tuple((n, a) for n, _, a in branches(flt))
            who = "id" if flt.actor_id is not None else None
            stmt = page_select(chosen, flt.since is not None, flt.until is not None, who, None)
            params = {"limit": 51, "since": flt.since, "until": flt.until, "actor_id": flt.actor_id}
            print(f"\n-- {name}")
            for line in plan(stmt, {k: v for k, v in params.items() if v is not None}):
                print(line)


if __name__ == "__main__":
    main()
