"""`manage.py seed-demo`, and seed_with_progress(): demo data with a progress bar, also used by bootstrap."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from flask_activity.cli.errors import db_errors

from ..seed import SeedResult, is_empty, seed_demo


def seed_with_progress(users: int, items: int, months: int = 6, seed: int = 1) -> SeedResult:
    """Insert demo data, drawing a progress bar on stderr, and print what was made."""
    is_empty()  # a missing schema fails here, as one line, before the progress bar draws
    total = users + max(1, items // 10) + items
    with click.progressbar(length=total, label="seeding", file=sys.stderr, show_pos=True) as bar:
        result = seed_demo(users=users, items=items, months=months, seed=seed, progress=bar.update)
    click.echo(f"made {result.users} users, {result.bucketlists} bucketlists, {result.items} items over "
               f"{result.span_days} days ({result.updated} updated, {result.deleted} deleted)")
    return result


@click.command("seed-demo")
@click.option("--users", default=50, show_default=True, type=click.IntRange(1, 1_000_000), help="Users to create.")
@click.option("--items", default=5000, show_default=True, type=click.IntRange(0, 50_000_000), help="Items to create.")
@click.option("--months", default=6, show_default=True, type=click.IntRange(1, 120), help="History span.")
@click.option("--seed", default=1, show_default=True, help="Random seed (same seed, same data).")
@with_appcontext
@db_errors
def seed_demo_command(users: int, items: int, months: int, seed: int) -> None:
    """Insert demo users, bucketlists and items with months of history."""
    seed_with_progress(users=users, items=items, months=months, seed=seed)
