"""`flask activity doctor`: every audited model, what its columns can show, and the indexes the feed still needs."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..doctor import Diagnosis, diagnose, migration_head, render_migration, render_operations
from ..state import state
from .errors import db_errors, fail


@click.command("doctor")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--migration", "migration", type=click.Path(dir_okay=False, path_type=Path),
              help="Write an Alembic migration adding what is missing to this file (e.g. "
                   "migrations/versions/0009_activity_indexes.py); its down_revision is that folder's head.")
@click.option("--revision", help="The new migration's revision id (default: a random one, as Alembic makes).")
@click.option("--down-revision", help="The revision the migration follows (default: the head of its folder).")
@with_appcontext
@db_errors
def doctor_command(fmt: str, migration: Path | None, revision: str | None, down_revision: str | None) -> None:
    """Check the audited models against the database: the columns each maps, the events it can show, and whether
    every feed branch is served by an index (the database's own EXPLAIN). Exit status 0 when all is well, 1 when
    something is missing (the Alembic operations to add it are printed), 2 on an error."""
    st = state()
    found = diagnose(st, st.db.engine)
    if migration is not None:
        if migration.exists():
            fail(f"--migration: {migration} exists; name a new file")
        if not migration.parent.is_dir():
            fail(f"--migration: folder {migration.parent} does not exist")
        if found.healthy:
            click.echo("nothing is missing: no migration written", err=True)
        else:
            head = down_revision or migration_head(migration)
            migration.write_text(render_migration(found, revision=revision or uuid.uuid4().hex[:12],
                                                  down_revision=head), encoding="utf-8")
            click.echo(f"wrote {migration} (follows {head or 'no revision: set down_revision'})", err=True)
    if fmt == "json":
        report = found.to_json()
        if not found.healthy:
            report["upgrade"] = render_operations(found)[0]
        click.echo(json.dumps(report, indent=2))
    else:
        _print(found)
    raise SystemExit(0 if found.healthy else 1)


def _print(found: Diagnosis) -> None:
    click.echo(f"database: {found.dialect}")
    click.echo("extension tables: " + (f"MISSING {', '.join(found.missing_tables)} (the migration below adds them)"
                                        if found.missing_tables else "present"))
    for check in found.models:
        spec = check.spec
        mapped = ", ".join(f"{role}={column}" for role, column in spec.columns.items())
        click.echo(f"\n{spec.name} (table {spec.table_name}{', audit mixin' if spec.exact else ''})")
        click.echo(f"  columns: {mapped}; label={spec.label_column}"
                   + (f"; naive times read as {spec.naive_zone}" if spec.naive_zone else ""))
        click.echo(f"  events:  {', '.join(spec.actions)}" + (f" ({spec.note()})" if spec.note() else ""))
        for b in check.branches:
            what = f"{b.action}{' by one actor' if b.by_actor else ''}"
            status = (f"ok: {b.index}" if b.served else
                      f"NOT SERVED: {'reads ' + b.index if b.index else 'reads the whole table'}; "
                      f"needs {b.need.name} ({', '.join(b.need.columns)})")
            click.echo(f"    {what:<24} {status}")
    if found.healthy:
        click.echo("\nall feed branches are served by an index")
        return
    if found.missing:
        click.echo(f"\n{len(found.missing)} index(es) missing: add them with these Alembic operations "
                   "(or write a migration: --migration migrations/versions/NNNN_activity_indexes.py):\n")
        click.echo(render_operations(found)[0])
    elif found.missing_tables:
        click.echo("\nadd the extension's tables (--migration writes the migration):\n")
        click.echo(render_operations(found)[0])
    else:
        click.echo("\nthe indexes exist but the database does not use them for every branch (see above)")
