"""The logged-in user's load per request: the ORM ``User`` against ``SessionUser``'s one Core row (issue 18).

    .venv/bin/python -m bench.session_user [--size 1000000] [--calls 1000]

CPU time of ``--calls`` loads of the bench admin, each with its session opened and closed as a request would,
the least of 5 interleaved rounds, on the cached SQLite and PostgreSQL databases (outside a request, so
PostgreSQL's figure includes BEGIN and ROLLBACK, which a GET request no longer sends).
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench import datasets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="items in the cached database (default 1M)")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--data-dir", type=Path, default=datasets.DEFAULT_DATA_DIR)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    from admin_app import create_app
    from admin_app.accounts import find_user
    from admin_app.extensions import db
    from admin_app.models import User
    from admin_app.session_user import load_session_user

    for kind in ("sqlite", "postgresql"):
        ds = datasets.ensure(kind, args.size, args.data_dir)
        datasets.prepare(ds, args.data_dir)
        app = create_app(datasets.app_config(ds.url, args.data_dir))
        with app.app_context():
            found = find_user(datasets.ADMIN_EMAIL)
            assert found is not None, "the bench admin is missing"
            uid = found.id
            db.session.remove()

            orm = partial(db.session.get, User, uid)
            core = partial(load_session_user, uid)
            best: dict[str, float] = {}
            for _ in range(5):
                for name, load in (("ORM User", orm), ("SessionUser", core)):
                    best[name] = min(best.get(name, float("inf")), _cpu_ms(load, args.calls, db.session.remove))
            db.engine.dispose()
        results[kind] = {name: round(ms, 4) for name, ms in best.items()}
        print(f"{kind}: " + ", ".join(f"{name} {ms:.3f} ms" for name, ms in best.items())
              + f" CPU per load (least of 5 rounds of {args.calls})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _cpu_ms(load: Callable[[], Any], calls: int, close: Callable[[], None]) -> float:
    started = time.process_time()
    for _ in range(calls):
        load()
        close()
    return (time.process_time() - started) * 1000 / calls


if __name__ == "__main__":
    main()
