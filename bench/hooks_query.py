"""Part (2) of bench/hooks.py: the first feed page with no hook code, with idle hooks and with the metrics subscriber.

``fetch_page`` against ``activity.queries.query_page`` (the same query without the hook), interleaved in rotated
blocks, and the hook's own cost per call with the query replaced by a constant. Run through ``python -m bench.hooks``.
"""
from __future__ import annotations

import argparse
import statistics
import time
import timeit
from typing import Any

from sqlalchemy import text

from admin_app import create_app
from admin_app.extensions import db
from flask_activity import activity, signals
from flask_activity.activity import queries
from flask_activity.metrics import Metrics


def p95(values: list[float]) -> float:
    """The 95th percentile as part (1) and part (2) report it."""
    values = sorted(values)
    return values[max(0, int(len(values) * 0.95) - 1)]


def server_version() -> str:
    """The database server's version (PostgreSQL's SHOW server_version, or the SQLite library's)."""
    if db.engine.dialect.name == "postgresql":
        return str(db.session.scalar(text("SHOW server_version"))).split()[0]
    return str(db.session.scalar(text("SELECT sqlite_version()")))


QUERY_VARIANTS = ("no hook code", "idle hooks", "metrics subscriber")


def bench_query_hooks(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Part (2): first feed page with no hook code, with idle hooks, and with the metrics subscriber connected."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "APP_ENV": "testing"})
    with app.app_context():
        try:
            return _query_hooks(app, args)
        finally:
            db.session.remove()
            db.engine.dispose()


def _per_call_overhead_ns(metrics: Metrics, app: Any, calls: int) -> dict[str, float]:
    """What the hook adds to one fetch_page call, the query itself replaced by a constant (nanoseconds)."""
    page = activity.Page([], None, activity.ActivityFilter())
    real = queries.query_page
    queries.query_page = lambda *a: page  # the query out of the way: only the hook's cost is left
    try:
        flt = activity.ActivityFilter()

        def best_of(fn: Any) -> float:
            return min(timeit.repeat(fn, number=calls, repeat=5)) / calls * 1e9

        bare = best_of(lambda: queries.query_page(flt, 50, None, db.session()))  # the constant
        idle = best_of(lambda: activity.fetch_page(flt, 50))
        metrics.connect(app)
        try:
            subscribed = best_of(lambda: activity.fetch_page(flt, 50))
        finally:
            metrics.disconnect()
    finally:
        queries.query_page = real
    return {"idle hooks": idle - bare, "metrics subscriber": subscribed - bare}


def _query_hooks(app: Any, args: argparse.Namespace) -> dict[str, Any]:
    from admin_app.cli.db import init_db
    from admin_app.seed import seed_demo

    init_db()
    started = time.perf_counter()
    seed_demo(users=200, items=args.query_items, seed=1)
    seeded_s = time.perf_counter() - started
    flt = activity.ActivityFilter()
    metrics = Metrics()
    assert not any(s.receivers for s in signals.ALL), "a receiver is connected: 'idle' would not be idle"
    calls = {
        "no hook code": lambda: queries.query_page(flt, 50, None, db.session()),
        "idle hooks": lambda: activity.fetch_page(flt, 50),
        "metrics subscriber": lambda: activity.fetch_page(flt, 50),
    }
    for fn in calls.values():  # warm caches and statement compilation
        for _ in range(5):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in QUERY_VARIANTS}
    for block in range(args.query_blocks):
        k = block % len(QUERY_VARIANTS)
        for name in QUERY_VARIANTS[k:] + QUERY_VARIANTS[:k]:
            if name == "metrics subscriber":
                metrics.connect(app)
            try:
                for _ in range(args.query_repeat):
                    t0 = time.perf_counter()
                    calls[name]()
                    samples[name].append((time.perf_counter() - t0) * 1000)
            finally:
                if name == "metrics subscriber":
                    metrics.disconnect()
    observed = metrics.registry.get_sample_value("admin_activity_query_seconds_count", {"kind": "page"})
    assert observed == len(samples["metrics subscriber"]), "the subscriber missed calls"
    overhead = _per_call_overhead_ns(metrics, app, args.overhead_calls)
    base = statistics.median(samples["no hook code"])
    rows = []
    for name in QUERY_VARIANTS:
        med = statistics.median(samples[name])
        rows.append({"variant": name, "median_ms": round(med, 3), "p95_ms": round(p95(samples[name]), 3),
                     "ratio": round(med / base, 4),
                     "overhead_ns": round(overhead.get(name, 0.0), 1),
                     "overhead_pct": round(overhead.get(name, 0.0) / (base * 1e6) * 100, 4)})
    events = sum(activity.count_events(flt).values())
    return {"database": db.engine.dialect.name, "server": server_version(), "items": args.query_items,
            "events": events, "seed_s": round(seeded_s, 1), "page_size": 50,
            "samples_per_variant": args.query_blocks * args.query_repeat, "rows": rows}


def print_query_hooks(result: dict[str, Any]) -> None:
    print(f"\n(2) activity query, first page of 50: {result['database']} {result['server']}, "
          f"{result['items']:,} items ({result['events']:,} events), "
          f"{result['samples_per_variant']} calls per variant, interleaved in blocks")
    print(f"{'variant':<20} {'median':>10} {'p95':>10} {'ratio':>7} {'hook cost/call':>15} {'of median':>10}")
    for r in result["rows"]:
        cost = f"{r['overhead_ns'] / 1000:.2f} us" if r["variant"] != "no hook code" else "-"
        share = f"{r['overhead_pct']:.3f} %" if r["variant"] != "no hook code" else "-"
        print(f"{r['variant']:<20} {r['median_ms']:>7.3f} ms {r['p95_ms']:>7.3f} ms {r['ratio']:>7.3f} "
              f"{cost:>15} {share:>10}")
    print("target: idle hooks cost under 1% of the query (ratio and hook cost per call)")


