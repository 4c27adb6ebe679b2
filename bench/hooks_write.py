"""Part (1) of bench/hooks.py: the audited write path against plain models and a signal-driven log.

See bench/hooks.py for what is measured and how; this module holds the models, the workload and its table.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from blinker import Namespace
from sqlalchemy import ForeignKey, Index, Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from admin_app import create_app
from admin_app.extensions import db
from admin_app.models import Bucketlist, Item, User
from bench.hooks_query import p95, server_version
from flask_activity.audit import acting_as, current_actor_id
from flask_activity.types import UTCDateTime, utcnow

VARIANTS = ("audited", "plain", "signal_log")
BENCH_TABLES = ("items", "plain_items", "plain_activity_log")  # emptied before every variant run
TARGET_COST = 0.15  # audited may cost at most 15% of plain's throughput
TARGET_VS_SIGNAL = 1.6  # audited must be at least 1.6x signal_log's throughput
DUE = date(2027, 1, 1)


# --- the plain models and the signal-driven log (their own metadata, same database) ---------------------

class PlainBase(DeclarativeBase):
    pass


class PlainBucketlist(PlainBase):
    __tablename__ = "plain_bucketlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)

    items: Mapped[list[PlainItem]] = relationship(back_populates="bucketlist")


class PlainItem(PlainBase):
    __tablename__ = "plain_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    bucketlist_id: Mapped[int] = mapped_column(ForeignKey("plain_bucketlists.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    done: Mapped[bool] = mapped_column(nullable=False, default=False)
    due_date: Mapped[date | None] = mapped_column(nullable=True)

    bucketlist: Mapped[PlainBucketlist] = relationship(back_populates="items")


class ActivityLog(PlainBase):
    """One row per saved object, as the abandoned signal receiver would have written."""

    __tablename__ = "plain_activity_log"
    __table_args__ = (Index("ix_plain_activity_log_at_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(50), nullable=False)
    row_id: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


model_saved = Namespace().signal("model-saved")


@model_saved.connect
def _write_activity_log(sender: Any, *, session: Session, action: str) -> None:
    session.add(ActivityLog(model=sender.__tablename__, row_id=sender.id, action=action,
                            actor_id=current_actor_id(), at=utcnow()))


@dataclass(frozen=True)
class Variant:
    name: str
    model: type[Any]  # Item, or the plain item model
    signal: bool


# --- databases ------------------------------------------------------------------------------------------

def reset_tables() -> None:
    """Every bench table empty and its storage fresh, outside any timing."""
    db.session.close()
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"TRUNCATE {', '.join(BENCH_TABLES)} RESTART IDENTITY")
            conn.exec_driver_sql("CHECKPOINT")
        else:
            for table in BENCH_TABLES:
                conn.exec_driver_sql(f"DELETE FROM {table}")
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def analyze_tables() -> None:
    """PostgreSQL only: fresh statistics before the update phase (untimed, for every variant)."""
    db.session.close()
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql(f"ANALYZE {', '.join(BENCH_TABLES)}")


# --- the workload ---------------------------------------------------------------------------------------

def insert_phase(variant: Variant, parent_id: int, count: int, batch: int) -> tuple[float, list[float]]:
    """``count`` ORM inserts in commits of ``batch``; returns (seconds, per-batch seconds)."""
    session, model = db.session, variant.model
    batches = []
    start = time.perf_counter()
    for lo in range(0, count, batch):
        t0 = time.perf_counter()
        objs = [model(bucketlist_id=parent_id, title=f"item {i}", done=False, due_date=DUE + timedelta(days=i % 365))
                for i in range(lo, min(count, lo + batch))]
        session.add_all(objs)
        if variant.signal:
            session.flush()  # one batched INSERT .. RETURNING, so every object has its id
            for obj in objs:
                model_saved.send(obj, session=session, action="created")
        session.commit()
        batches.append(time.perf_counter() - t0)
    return time.perf_counter() - start, batches


def update_phase(variant: Variant, first_id: int, count: int, batch: int) -> tuple[float, list[float], int]:
    """Load ``count`` rows by id range, ``batch`` at a time, change title and done, commit each batch."""
    session, model = db.session, variant.model
    batches, done = [], 0
    start = time.perf_counter()
    for lo in range(first_id, first_id + count, batch):
        t0 = time.perf_counter()
        hi = min(lo + batch, first_id + count)
        objs = session.scalars(select(model).where(model.id >= lo, model.id < hi).order_by(model.id)).all()
        for obj in objs:
            obj.title = f"{obj.title} (edited)"
            obj.done = not obj.done
        if variant.signal:
            session.flush()
            for obj in objs:
                model_saved.send(obj, session=session, action="updated")
        session.commit()
        done += len(objs)
        batches.append(time.perf_counter() - t0)
    return time.perf_counter() - start, batches, done


def check_rows(variant: Variant, user_id: int, inserts: int, updates: int) -> None:
    """Untimed: the writes really happened, with actors and log rows where the variant records them."""
    s, m = db.session, variant.model
    problems = []
    if s.scalar(select(func.count()).select_from(m)) != inserts:
        problems.append("row count")
    if s.scalar(select(func.count()).select_from(m).where(m.title.like("% (edited)"))) != updates:
        problems.append("updated rows")
    if variant.name == "audited":
        if s.scalar(select(func.count()).select_from(m).where(m.created_by_id == user_id)) != inserts:
            problems.append("created_by_id")
        if s.scalar(select(func.count()).select_from(m).where(
                m.updated_by_id == user_id, m.updated_at > m.created_at)) != updates:
            problems.append("updated_at/updated_by_id")
    logged = dict(s.execute(select(ActivityLog.action, func.count()).group_by(ActivityLog.action)).all())
    expected_log = {"created": inserts, "updated": updates} if variant.signal else {}
    if logged != expected_log:
        problems.append(f"activity log {logged} != {expected_log}")
    s.rollback()
    if problems:
        raise RuntimeError(f"{variant.name}: wrong result ({', '.join(problems)})")


def run_variant(variant: Variant, user_id: int, parent_id: int, inserts: int, updates: int, batch: int,
                check: bool = True) -> dict[str, Any]:
    reset_tables()
    gc.collect()
    with acting_as(user_id):
        ins_s, ins_batches = insert_phase(variant, parent_id, inserts, batch)
        analyze_tables()
        first_id = db.session.scalar(select(func.min(variant.model.id)))
        db.session.rollback()
        if first_id is None:
            raise RuntimeError(f"{variant.name}: the insert phase left no rows")
        upd_s, upd_batches, updated = update_phase(variant, first_id, updates, batch)
    if updated != updates:
        raise RuntimeError(f"{variant.name}: updated {updated} rows, expected {updates}")
    if check:
        check_rows(variant, user_id, inserts, updates)
    return {"insert_s": ins_s, "update_s": upd_s, "insert_batches": ins_batches, "update_batches": upd_batches}


def bench_write_path(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Part (1): insert then update throughput of audited / plain / signal_log on the database at ``url``."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "APP_ENV": "testing"})
    with app.app_context():
        try:
            return _write_path(args)
        finally:
            db.session.remove()
            db.engine.dispose()


def _write_path(args: argparse.Namespace) -> dict[str, Any]:
    from admin_app.cli.db import init_db

    init_db()  # the real schema, from the app's migrations
    PlainBase.metadata.create_all(db.engine)
    with acting_as(None):
        user = User(email="bench@example.com", display_name="bench", role="admin")
        db.session.add(user)
        db.session.commit()
        user_id = user.id
    with acting_as(user_id):
        bucketlist = Bucketlist(title="bench", owner_id=user_id)
        plain_bucketlist = PlainBucketlist(title="bench")
        db.session.add_all([bucketlist, plain_bucketlist])
        db.session.commit()
        parents = {"audited": bucketlist.id, "plain": plain_bucketlist.id, "signal_log": plain_bucketlist.id}
    variants = {"audited": Variant("audited", Item, False), "plain": Variant("plain", PlainItem, False),
                "signal_log": Variant("signal_log", PlainItem, True)}
    dialect, version = db.engine.dialect.name, server_version()
    db.session.close()

    warm = min(args.batch * 2, args.inserts)
    for name in VARIANTS:  # untimed: mapper configuration, statement caches, page cache
        run_variant(variants[name], user_id, parents[name], warm, min(args.updates, warm), args.batch)

    runs: list[dict[str, Any]] = []
    for r in range(args.rounds):
        order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
        for name in order:
            res = run_variant(variants[name], user_id, parents[name], args.inserts, args.updates, args.batch)
            run = {"round": r + 1, "variant": name, "insert_s": round(res["insert_s"], 3),
                   "update_s": round(res["update_s"], 3),
                   "insert_rows_s": args.inserts / res["insert_s"], "update_rows_s": args.updates / res["update_s"],
                   "combined_rows_s": (args.inserts + args.updates) / (res["insert_s"] + res["update_s"]),
                   "insert_batch_p95_ms": p95(res["insert_batches"]) * 1000,
                   "update_batch_p95_ms": p95(res["update_batches"]) * 1000}
            runs.append(run)
            print(f"  {dialect} round {r + 1}/{args.rounds} {name:<10} insert {run['insert_rows_s']:>9,.0f} rows/s  "
                  f"update {run['update_rows_s']:>9,.0f} rows/s  ({run['insert_s'] + run['update_s']:.1f} s)",
                  file=sys.stderr, flush=True)
    reset_tables()

    metrics = ("insert_rows_s", "update_rows_s", "combined_rows_s", "insert_batch_p95_ms", "update_batch_p95_ms")
    summary = {name: {m: round(statistics.median(x[m] for x in runs if x["variant"] == name), 1) for m in metrics}
               for name in VARIANTS}
    for run in runs:
        for m in metrics:
            run[m] = round(run[m], 1)

    def ratios(a: str, b: str) -> dict[str, Any]:
        out = {k.removesuffix("_rows_s"): round(summary[a][k] / summary[b][k], 3)
               for k in ("insert_rows_s", "update_rows_s", "combined_rows_s")}
        per_round = [next(x for x in runs if x["round"] == r and x["variant"] == a)["combined_rows_s"]
                     / next(x for x in runs if x["round"] == r and x["variant"] == b)["combined_rows_s"]
                     for r in range(1, args.rounds + 1)]
        out["combined_per_round"] = [round(v, 3) for v in per_round]
        return out

    vs_plain, vs_signal = ratios("audited", "plain"), ratios("audited", "signal_log")
    cost = round(1 - vs_plain["combined"], 3)
    return {
        "part": "write_path", "database": dialect, "server_version": version,
        "inserts": args.inserts, "updates": args.updates, "batch": args.batch, "rounds": args.rounds,
        "variants": summary,
        "audited_vs_plain": {**vs_plain, "cost": cost, "target_cost_max": TARGET_COST, "met": cost <= TARGET_COST},
        "audited_vs_signal_log": {**vs_signal, "target_min": TARGET_VS_SIGNAL,
                                  "met": vs_signal["combined"] >= TARGET_VS_SIGNAL},
        "runs": runs,
    }

def print_write_path(result: dict[str, Any], machine: dict[str, Any]) -> None:
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(result["database"], result["database"])
    print(f"\nwrite path, database: {name} {result['server_version']}, machine: {machine['cores']} cores, "
          f"{machine['python']}, SQLAlchemy {machine['sqlalchemy']}")
    print(f"per variant: {result['inserts']:,} ORM inserts then {result['updates']:,} ORM updates, "
          f"commits of {result['batch']:,}; medians of {result['rounds']} rounds (order rotated)")
    print(f"{'variant':<11} {'insert rows/s':>14} {'update rows/s':>14} {'combined rows/s':>16} "
          f"{'insert batch p95':>17} {'update batch p95':>17}")
    for variant, v in result["variants"].items():
        print(f"{variant:<11} {v['insert_rows_s']:>14,.0f} {v['update_rows_s']:>14,.0f} {v['combined_rows_s']:>16,.0f} "
              f"{v['insert_batch_p95_ms']:>14.1f} ms {v['update_batch_p95_ms']:>14.1f} ms")
    p, s = result["audited_vs_plain"], result["audited_vs_signal_log"]
    print(f"audited / plain:      insert {p['insert']:.2f}  update {p['update']:.2f}  combined {p['combined']:.2f}"
          f"  -> cost {p['cost']:.1%} (target <= {TARGET_COST:.0%}: {'met' if p['met'] else 'MISSED'}); "
          f"per round {', '.join(f'{x:.2f}' for x in p['combined_per_round'])}")
    print(f"audited / signal_log: insert {s['insert']:.2f}  update {s['update']:.2f}  combined {s['combined']:.2f}x"
          f" (target >= {TARGET_VS_SIGNAL}x: {'met' if s['met'] else 'MISSED'}); "
          f"per round {', '.join(f'{x:.2f}' for x in s['combined_per_round'])}")

