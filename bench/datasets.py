"""Seeded benchmark databases, cached between runs (used by the suite and every bench script).

* SQLite: ``<data dir>/items_<N>.db`` (default data dir ``bench/.data``, gitignored);
* PostgreSQL: database ``admin_app_bench_<N>`` on ``BENCH_PG_ADMIN_URL``
  (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).

A missing database (or any with ``--reseed``) is made with the app's own ``init_db`` (Alembic to head) and
``seed_demo(users, items, months, seed)``, into a temporary name that is renamed into place only when the
seed has finished, so an interrupted seed is never mistaken for a cached one. After seeding the tables are
ANALYZEd (PostgreSQL: VACUUM ANALYZE, as autovacuum would do soon after a bulk load). Every run upgrades a
cached database to the current head migration (the schema under test may have gained indexes) and makes sure
the benchmark's admin user exists. How long the seed took is kept beside the database (``*.seed.json``).

Usage, to seed ahead of a run:

    .venv/bin/python -m bench.datasets --db both --sizes 100000,1000000 [--reseed]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ROOT
from flask_activity.testing.databases import postgresql_unreachable

DEFAULT_DATA_DIR = ROOT / "bench" / ".data"
PG_ADMIN_URL = (os.environ.get("BENCH_PG_ADMIN_URL") or os.environ.get("TEST_PG_ADMIN_URL")
                or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BENCH_SECRET = "bench-secret-key-not-for-production"
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-password-123"
ADMIN_HASH_METHOD = "pbkdf2:sha256:1000"
USERS = 1000
MONTHS = 6
SEED = 1


@dataclass
class Dataset:
    db: str  # sqlite | postgresql
    items: int
    url: str
    seed: dict[str, Any]  # seconds, when, cached, counts


def app_config(url: str, data_dir: Path, **extra: Any) -> dict[str, Any]:
    """Settings for an app on a benchmark database (development settings, a fixed secret)."""
    instance = data_dir / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    return {"APP_ENV": "development", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": BENCH_SECRET,
            "INSTANCE_DIR": str(instance), "REPORTS_DIR": str(instance / "reports"), **extra}


def app_env(url: str, data_dir: Path) -> dict[str, str]:
    """The same settings as environment variables, for child processes (manage.py, gunicorn)."""
    instance = data_dir / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "METRICS_ENABLED")}
    # Login limits counted in each server process, as before the file store: a run starts dozens of servers and
    # logs each in, which a store shared across them would refuse after five a minute.
    env.update(DATABASE_URL=url, SECRET_KEY=BENCH_SECRET, INSTANCE_DIR=str(instance),
               REPORTS_DIR=str(instance / "reports"), PYTHONPATH=str(ROOT), RATELIMIT_STORAGE_URI="memory://")
    return env


def pg_unreachable(admin_url: str = PG_ADMIN_URL) -> str | None:
    """None if the PostgreSQL server answers, else the first line of the error (shared by every bench script)."""
    return postgresql_unreachable(admin_url)


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _pg_admin(sql: str) -> list[Any]:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(text(sql))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _pg_exists(name: str) -> bool:
    return bool(_pg_admin(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"))


def _seed_into(url: str, data_dir: Path, items: int, log: Any) -> dict[str, Any]:
    """init_db + seed_demo into ``url``; returns what was made and how long it took."""

    from admin_app import create_app
    from admin_app.cli.db import init_db
    from admin_app.extensions import db
    from admin_app.seed import seed_demo

    app = create_app(app_config(url, data_dir))
    with app.app_context():
        init_db()
        started = time.perf_counter()
        result = seed_demo(users=USERS, items=items, months=MONTHS, seed=SEED)
        seeded = time.perf_counter() - started
        t0 = time.perf_counter()
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("VACUUM ANALYZE")
            else:
                conn.exec_driver_sql("ANALYZE")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        analyzed = time.perf_counter() - t0
        db.session.remove()
        db.engine.dispose()
    info = {"seed_seconds": round(seeded, 2), "analyze_seconds": round(analyzed, 2),
            "made_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "users": result.users,
            "bucketlists": result.bucketlists, "items": result.items, "updated": result.updated,
            "deleted": result.deleted, "span_days": result.span_days, "months": MONTHS, "seed": SEED}
    log(f"  seeded {items:,} items in {seeded:.1f} s (+ {'VACUUM ' if url.startswith('postgresql') else ''}"
        f"ANALYZE {analyzed:.1f} s): {result.users:,} users, {result.bucketlists:,} bucketlists, "
        f"{result.updated:,} updated, {result.deleted:,} deleted")
    return info


def ensure(db_name: str, items: int, data_dir: Path = DEFAULT_DATA_DIR, reseed: bool = False,
           log: Any = print) -> Dataset:
    """A seeded database of ``items`` items, from the cache or made now."""
    data_dir.mkdir(parents=True, exist_ok=True)
    meta_path = data_dir / f"{'pg_' if db_name == 'postgresql' else ''}items_{items}.seed.json"
    if db_name == "sqlite":
        path = data_dir / f"items_{items}.db"
        url = f"sqlite:///{path}"
        if reseed or not path.exists():
            tmp = data_dir / f"items_{items}.seeding.db"
            for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                p.unlink(missing_ok=True)
            log(f"  seeding SQLite {path} ...")
            started = time.perf_counter()
            info = _seed_into(f"sqlite:///{tmp}", data_dir, items, log)
            tmp.rename(path)
            info["total_seconds"] = round(time.perf_counter() - started, 2)
            meta_path.write_text(json.dumps(info, indent=2))
            return Dataset(db_name, items, url, {**info, "cached": False})
    else:
        name = f"admin_app_bench_{items}"
        url = _pg_url(name)
        if reseed or not _pg_exists(name):
            seeding = f"{name}_seeding"
            _pg_admin(f'DROP DATABASE IF EXISTS "{seeding}" WITH (FORCE)')
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _pg_admin(f'CREATE DATABASE "{seeding}"')
            log(f"  seeding PostgreSQL database {name} ...")
            started = time.perf_counter()
            info = _seed_into(_pg_url(seeding), data_dir, items, log)
            _pg_admin(f'ALTER DATABASE "{seeding}" RENAME TO "{name}"')
            info["total_seconds"] = round(time.perf_counter() - started, 2)
            meta_path.write_text(json.dumps(info, indent=2))
            return Dataset(db_name, items, url, {**info, "cached": False})
    info = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    log(f"  cached {db_name} database with {items:,} items" +
        (f" (seeded {info.get('made_at')} in {info.get('seed_seconds')} s)" if info else ""))
    return Dataset(db_name, items, url, {**info, "cached": True})


def prepare(ds: Dataset, data_dir: Path) -> dict[str, Any]:
    """Upgrade the schema to head, make sure the bench admin exists; returns revision and a few facts."""
    from sqlalchemy import func, select, text

    from admin_app import create_app
    from admin_app.accounts import create_user, find_user
    from admin_app.cli.db import init_db
    from admin_app.extensions import db
    from admin_app.models import User

    app = create_app(app_config(ds.url, data_dir))
    with app.app_context():
        started = time.perf_counter()
        init_db()
        upgraded = time.perf_counter() - started
        user = find_user(ADMIN_EMAIL) or create_user(ADMIN_EMAIL, ADMIN_PASSWORD, "admin", "Bench admin")
        if not user.password_hash.startswith(ADMIN_HASH_METHOD):
            # a cheap hash: logging in (in every child process) must not add scrypt's 32 MB to a peak RSS
            user.set_password(ADMIN_PASSWORD, ADMIN_HASH_METHOD)
            db.session.commit()
        revision = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        users = db.session.scalar(select(func.count()).select_from(User))
        db.session.remove()
        db.engine.dispose()
    return {"alembic_revision": revision, "upgrade_seconds": round(upgraded, 2), "users": users}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    for name in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        for n in (int(s) for s in args.sizes.split(",")):
            ds = ensure(name, n, args.data_dir, args.reseed)
            print(f"{name} {n:,}: {ds.url} {prepare(ds, args.data_dir)}")


if __name__ == "__main__":
    main()
