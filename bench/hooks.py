"""Hooks, measured: the audited write path against plain models and a signal-driven log; the query with hooks.

Part (1), the write path: ORM write throughput of three variants, side by side in one run, on the same
app engine and the same session (so pool, pragmas and driver settings are identical):

* audited: the real ``Item`` model (AuditMixin: created/updated/deleted_at as ``UTCDateTime``,
  created_by_id/updated_by_id FKs defaulted from ``current_actor_id``, five extra indexes) in the schema
  made by the app's migrations (``init_db``), inserted into an existing Bucketlist owned by an existing
  User. Writes run inside ``acting_as(user_id)``, as in real use, so actors are recorded.
* plain: the same item columns (id, bucketlist_id FK with its index, title, done, due_date) and the same
  ``bucketlist`` relationship, without the mixin's columns, indexes and relationships: a separate
  ``DeclarativeBase`` with ``plain_bucketlists`` / ``plain_items``, made with ``metadata.create_all`` in the
  same database.
* signal_log: the approach the seeds abandoned: the plain models plus a blinker signal
  (``Namespace().signal("model-saved")``) sent for every saved object, whose receiver adds an
  ``ActivityLog`` row (model, row id, action 'created'/'updated', actor id, at; index on (at, id) as a real
  log table would have) to the same session, so it commits in the same transaction.
  It is made fair, not a strawman: each batch is added and flushed once (the same INSERT .. RETURNING
  path the other variants' commit takes: multi-row on PostgreSQL, one row per statement on SQLite), so ids
  exist; then the signal is sent per object, and the log rows go out in the commit's one flush. The receiver takes
  the actor from ``current_actor_id()`` and the time from ``utcnow()``, as the audit defaults do, and ``at`` is a
  ``UTCDateTime`` like every timestamp in this app. The log has no FK on actor_id and no
  (model, row_id) index, which favours this variant.

Workload per variant and round: --inserts ORM inserts (100,000), then --updates ORM updates (50,000: title
and done changed), in commits of --batch (1,000). Updates load each batch of objects by id range with the
ORM, change them and commit (audited: ``onupdate`` sets updated_at/updated_by_id; signal_log: an 'updated'
log row per object). Throughput counts item writes only; signal_log's log rows are its overhead.

Fairness: a short untimed warm-up of every variant first; before each variant every bench table is emptied
(SQLite: DELETE + VACUUM + WAL checkpoint; PostgreSQL: TRUNCATE .. RESTART IDENTITY + CHECKPOINT), and on
PostgreSQL the tables are ANALYZEd (untimed) between the insert and the update phase. The whole set runs
--rounds times with the variant order rotated each round; figures are medians over the rounds, so drift on
a noisy machine hits every variant alike.

Part (2), the read path: the first feed page of 50 (``activity.fetch_page``, all models) over --query-items
seeded items, three ways, interleaved in rotated blocks: "no hook code" (``activity.queries.query_page``, the
query without the hook), "idle hooks" (``fetch_page`` with no receiver connected: the shipped default) and
"metrics subscriber" (``fetch_page`` with the Prometheus subscriber connected). A difference under 1% is below
what medians of a real query resolve on a shared machine, so the per-call cost of the hook is also measured
directly: ``fetch_page`` with the query replaced by a constant, against the bare call, best of 5 x
--overhead-calls, and shown as a share of the median query.

Usage:

    .venv/bin/python -m bench.hooks [--part write|query|all] [--db sqlite|postgresql|both] [--rounds 3]
                                    [--inserts 100000] [--updates 50000] [--batch 1000]
                                    [--query-items 100000] [--json out.json]

SQLite is a temporary file database (the app's engine, so the app's pragmas: WAL, foreign keys); PostgreSQL
is a throwaway database created and dropped here (skipped with a line saying why if the server is
unreachable). Prints a table per database and one JSON line; figures go in docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

from bench.datasets import pg_unreachable
from bench.hooks_query import bench_query_hooks, print_query_hooks
from bench.hooks_write import bench_write_path, print_write_path
from flask_activity.testing.databases import throwaway_postgresql

PG_ADMIN_URL = (os.environ.get("BENCH_PG_ADMIN_URL") or os.environ.get("TEST_PG_ADMIN_URL")
                or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

@contextmanager
def sqlite_database() -> Iterator[str]:
    """A temporary file database, removed (with its WAL files) afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-hooks-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"



# --- output ---------------------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": f"{platform.python_implementation()} {platform.python_version()}",
            "platform": platform.platform(), "sqlalchemy": pkg_version("sqlalchemy"),
            "psycopg": pkg_version("psycopg"), "blinker": pkg_version("blinker")}

def bench_database(fresh: Any, args: argparse.Namespace, machine: dict[str, Any], results: dict[str, Any]) -> None:
    """Both parts on one kind of database, each in a fresh database from ``fresh()``."""
    if args.part in ("write", "all"):
        with fresh() as url:
            write_path = bench_write_path(url, args)
        results["write_path"].append(write_path)
        print_write_path(write_path, machine)
    if args.part in ("query", "all"):
        with fresh() as url:
            query = bench_query_hooks(url, args)
        results["query_hooks"].append(query)
        print_query_hooks(query)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of the whole set, variant order rotated")
    parser.add_argument("--inserts", type=int, default=100_000, help="ORM inserts per variant and round")
    parser.add_argument("--updates", type=int, default=50_000, help="ORM updates per variant and round")
    parser.add_argument("--batch", type=int, default=1_000, help="writes per commit")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL, help="where to CREATE/DROP the throwaway database")
    parser.add_argument("--json", metavar="PATH", help="also write the JSON line to this file")
    parser.add_argument("--part", choices=("write", "query", "all"), default="all",
                        help="(1) the write path, (2) the activity query with and without hooks, or both")
    parser.add_argument("--query-items", type=int, default=100_000, help="items seeded for part (2)")
    parser.add_argument("--query-blocks", type=int, default=30, help="part (2): blocks per variant, order rotated")
    parser.add_argument("--query-repeat", type=int, default=20, help="part (2): timed calls per block")
    parser.add_argument("--overhead-calls", type=int, default=20_000,
                        help="part (2): calls timed for the per-call hook cost (query replaced by a constant)")
    args = parser.parse_args()
    if min(args.rounds, args.inserts, args.updates, args.batch) < 1 or args.updates > args.inserts:
        parser.error("--rounds, --inserts, --updates, --batch must be >= 1 and --updates <= --inserts")

    started = time.perf_counter()
    machine = machine_info()
    results: dict[str, Any] = {"machine": machine, "write_path": [], "query_hooks": []}
    if args.db in ("sqlite", "both"):
        bench_database(sqlite_database, args, machine, results)
    if args.db in ("postgresql", "both"):
        problem = pg_unreachable(args.pg_admin_url)
        if problem:
            print(f"\nPostgreSQL not reachable at {args.pg_admin_url} ({problem}); "
                  f"skipped{', SQLite only' if args.db == 'both' else ''}", flush=True)
            results["postgresql_skipped"] = problem
        else:
            def fresh() -> Any:
                return throwaway_postgresql(args.pg_admin_url, prefix="admin_app_bench")

            bench_database(fresh, args, machine, results)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    print(f"\nwall time: {results['wall_s']:.0f} s")
    line = json.dumps(results)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")

if __name__ == "__main__":
    main()
