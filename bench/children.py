"""Work the suite runs in a fresh process (so its peak RSS is its own): ``python -m bench.children KIND URL DIR ..``.

Each kind prints one JSON line: the app's export endpoint, Flask-Admin's stock export, one-shot pandas, the idle
app (the RSS baseline), the naive feed, and the writer that updates items during the load test.
"""
from __future__ import annotations

import json
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import datasets
from bench.peers import naive_feed, union_sql

WRITER_POOL = 1000  # the writer updates only the first 1,000 items, so runs do not drift the cached data


def export_endpoint(url: str, data_dir: Path, out: Path) -> dict[str, Any]:
    """GET /admin/activity/export.csv through the app's WSGI callable, as the bench admin."""
    from admin_app import create_app
    from bench.server import test_client_login, wsgi_get

    app = create_app(datasets.app_config(url, data_dir))
    client = test_client_login(app)
    cookie = client.get_cookie("session")
    assert cookie is not None, "logged in without a session cookie"
    started = time.perf_counter()
    status, size = wsgi_get(app, "/admin/activity/export.csv", f"session={cookie.value}", out)
    return {"status": status, "bytes": size, "work_s": round(time.perf_counter() - started, 3)}


def stock_export(url: str, out: Path) -> dict[str, Any]:
    """Flask-Admin's stock ``can_export`` CSV of the items table, in a throwaway app."""
    from flask import Flask
    from flask_admin import Admin
    from flask_admin.contrib.sqla import ModelView

    from admin_app.extensions import db
    from admin_app.models import Item
    from bench.server import wsgi_get

    app = Flask("stock_export")
    app.config.update(SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=datasets.BENCH_SECRET)
    db.init_app(app)
    admin = Admin(app, name="stock")
    admin.add_view(type("StockItemView", (ModelView,), {"can_export": True})(Item, db.session,
                                                                              endpoint="stock_items"))
    started = time.perf_counter()
    status, size = wsgi_get(app, "/admin/stock_items/export/csv/", None, out)
    return {"status": status, "bytes": size, "work_s": round(time.perf_counter() - started, 3)}


def pandas_oneshot(url: str, out: Path) -> dict[str, Any]:
    """Every event read at once with pandas.read_sql, then to_csv."""
    import pandas as pd
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        frame = pd.read_sql(text(union_sql()), conn)
    frame.to_csv(out, index=False)
    return {"rows": len(frame), "work_s": round(time.perf_counter() - started, 3)}


def baseline(url: str, data_dir: Path) -> dict[str, Any]:
    """The app imported, created and logged into: what a Python child holds before any export."""
    from admin_app import create_app
    from bench.server import test_client_login

    test_client_login(create_app(datasets.app_config(url, data_dir)))
    return {}


def writer(url: str, data_dir: Path, seconds: float, items: int) -> dict[str, Any]:
    """Update random items, 5 per transaction and 10 ms apart, through the app's ORM, for ``seconds``.

    Items are drawn from ids 1..WRITER_POOL: every run rewrites the same rows, so a cached database gains at most
    WRITER_POOL 'updated' events however often the suite runs (and the dashboard's "today" counts stay bounded).
    """
    from sqlalchemy.exc import OperationalError

    from admin_app import create_app
    from admin_app.extensions import db
    from admin_app.models import Item
    from flask_activity.audit import acting_as

    app = create_app(datasets.app_config(url, data_dir))
    rng = random.Random(7)
    stats: dict[str, Any] = {"transactions": 0, "updates": 0, "locked": 0, "other_errors": 0, "errors_sample": []}
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    with app.app_context():
        end = time.monotonic() + seconds
        while time.monotonic() < end and not stop[0]:
            try:
                with acting_as(rng.randint(1, datasets.USERS)):
                    for item_id in rng.sample(range(1, min(items, WRITER_POOL) + 1), 5):
                        item = db.session.get(Item, item_id)
                        if item is not None:
                            item.title = f"bench write {rng.randrange(10**6)}"
                    db.session.commit()
                stats["transactions"] += 1
                stats["updates"] += 5
            except OperationalError as exc:
                db.session.rollback()
                if "locked" in str(exc).lower():
                    stats["locked"] += 1
                else:
                    stats["other_errors"] += 1
                if len(stats["errors_sample"]) < 3:
                    stats["errors_sample"].append(str(exc.orig)[:200])
            time.sleep(0.01)
    stats["seconds"] = seconds
    return stats


def child_main(argv: list[str]) -> None:
    """``KIND URL DATA_DIR [ARGS...]``: run one kind and print its JSON line."""
    kind, url, data_dir = argv[0], argv[1], Path(argv[2])
    if kind == "export-endpoint":
        result = export_endpoint(url, data_dir, Path(argv[3]))
    elif kind == "stock-export":
        result = stock_export(url, Path(argv[3]))
    elif kind == "pandas-oneshot":
        result = pandas_oneshot(url, Path(argv[3]))
    elif kind == "baseline":
        result = baseline(url, data_dir)
    elif kind == "naive-feed":
        result = naive_feed(url, int(argv[3]))
    elif kind == "writer":
        result = writer(url, data_dir, float(argv[3]), int(argv[4]))
    else:
        raise SystemExit(f"unknown child {kind}")
    print(json.dumps(result))


def command(kind: str, *args: str) -> list[str]:
    """The command line that runs ``kind`` in a child process (from the project root)."""
    return [sys.executable, "-m", "bench.children", kind, *args]


if __name__ == "__main__":
    child_main(sys.argv[1:])
