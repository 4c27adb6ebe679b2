"""The bare stack ``bench.stack`` measures the app against: Flask and the database driver, nothing else.

One endpoint, ``/feed.json``, runs the app's own first-page statement (compiled by ``bench.stack`` from the query
layer, limit 51, written to BARE_SQL_FILE) on a connection kept per thread, and returns its rows as JSON. No login,
no session, no ORM, no Flask-Admin: what the same SQL costs served by the same server with the same workers.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from flask import Flask, jsonify


def _connect(url: str) -> Any:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")  # as the app's engine sets it
        conn.execute("PRAGMA busy_timeout=5000")
        return conn
    import psycopg  # only the PostgreSQL run needs it

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def create_app() -> Flask:
    url, sql = os.environ["BARE_DB_URL"], Path(os.environ["BARE_SQL_FILE"]).read_text()
    local = threading.local()
    app = Flask(__name__)

    @app.get("/feed.json")
    def feed() -> Any:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = _connect(url)
        cur = conn.execute(sql)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        events = [{"at": r["at"] if isinstance(r["at"], str) else r["at"].isoformat(), "model": r["model"],
                   "id": r["id"], "action": r["action"],
                   "actor": {"id": r["actor_id"], "email": r["person"]} if r["actor_id"] is not None else None,
                   "label": r["label"]} for r in rows[:50]]
        return jsonify(events=events, next_cursor=None)

    return app
