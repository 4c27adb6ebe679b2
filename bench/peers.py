"""The peers the suite compares the app with: one UNION ALL of every event (OFFSET paging, the CSV floor and
one-shot pandas), and the naive pandas feed."""
from __future__ import annotations

import time
from typing import Any

from bench.measure import summarize


def union_sql(order: bool = True) -> str:
    """Every event as one UNION ALL (the feed's rules), with the actor's email; portable SQLite/PostgreSQL."""
    branches = []
    for rank, (model, table, label) in enumerate((("bucketlist", "bucketlists", "title"), ("item", "items", "title"),
                                                  ("user", "users", "email"))):
        branches += [
            f"SELECT '{model}' AS model, id, created_at AS at, 'created' AS action, created_by_id AS actor_id, "
            f"{label} AS label, {rank} AS model_rank, 0 AS action_rank FROM {table}",
            f"SELECT '{model}', id, updated_at, 'updated', updated_by_id, {label}, {rank}, 1 FROM {table} "
            f"WHERE updated_at > created_at AND (deleted_at IS NULL OR updated_at <> deleted_at)",
            f"SELECT '{model}', id, deleted_at, 'deleted', updated_by_id, {label}, {rank}, 2 FROM {table} "
            f"WHERE deleted_at IS NOT NULL",
        ]
    sql = ("SELECT e.at, e.model, e.id, e.action, e.actor_id, u.email AS actor_email, e.label FROM ("
           + " UNION ALL ".join(branches) + ") e LEFT JOIN users u ON u.id = e.actor_id")
    if order:
        sql += " ORDER BY e.at DESC, e.model_rank DESC, e.id DESC, e.action_rank DESC"
    return sql


def offset_sql(depth: int) -> str:
    """Page ``depth`` of 50 by OFFSET: what keyset paging replaces."""
    return union_sql() + f" LIMIT 50 OFFSET {(depth - 1) * 50}"


def naive_feed(url: str, repeat: int) -> dict[str, Any]:
    """The naive first page: read every row of the three tables with pandas, melt into events, sort, take 50."""
    import pandas as pd
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    times, rows_read = [], 0
    top: Any = None
    events: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        frames = []
        with engine.connect() as conn:
            emails = pd.read_sql(text("SELECT id, email FROM users"), conn).set_index("id")["email"]
            for model, table, label in (("bucketlist", "bucketlists", "title"), ("item", "items", "title"),
                                        ("user", "users", "email")):
                df = pd.read_sql(text(f"SELECT id, {label} AS label, created_at, updated_at, deleted_at, "
                                      f"created_by_id, updated_by_id FROM {table}"), conn)
                rows_read += len(df)
                df["model"] = model
                df["c"], df["d"] = df["created_at"], df["deleted_at"]
                ev = df.melt(id_vars=["model", "id", "label", "c", "d", "created_by_id", "updated_by_id"],
                             value_vars=["created_at", "updated_at", "deleted_at"], var_name="col", value_name="at")
                ev = ev[ev["at"].notna()]
                upd = ev["col"] == "updated_at"  # the feed's rule: after creation and not the deletion itself
                ev = ev[~upd | ((ev["at"] > ev["c"]) & (ev["d"].isna() | (ev["at"] != ev["d"])))]
                ev = ev.assign(action=ev["col"].map({"created_at": "created", "updated_at": "updated",
                                                     "deleted_at": "deleted"}))
                ev["actor_id"] = ev["created_by_id"].where(ev["action"] == "created", ev["updated_by_id"])
                frames.append(ev[["at", "model", "id", "action", "actor_id", "label"]])
        events = pd.concat(frames, ignore_index=True)
        top = events.sort_values(["at", "model", "id"], ascending=False).head(50)
        top = top.assign(actor_email=top["actor_id"].map(emails))
        times.append((time.perf_counter() - t0) * 1000)
    return {**summarize(times), "events": len(events), "rows_read_per_run": rows_read // repeat,
            "first": [str(top.iloc[0]["at"]), top.iloc[0]["model"], int(top.iloc[0]["id"])]}
