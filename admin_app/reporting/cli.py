"""`manage.py report ...`: list, run and browse reports (thin wrappers over the runner)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from ..cli import db_errors, fail
from ..extensions import db
from ..models import ReportRun
from ..timefmt import format_local
from ..types import utcnow
from . import runner
from .definition import ReportDefinition, ReportError
from .periods import PERIODS, window


def definitions() -> dict[str, ReportDefinition]:
    from reports import load_reports

    return load_reports()


def get_definition(name: str) -> ReportDefinition:
    found = definitions()
    if name not in found:
        fail(f"unknown report {name!r}; choose from {', '.join(found)}")
    return found[name]


def _progress(name: str) -> Any:
    """A live row counter on a terminal (the total is unknown until the snapshot is read); silent otherwise."""
    done = [0]

    def update(n: int) -> None:
        done[0] += n
        if sys.stderr.isatty():
            click.echo(f"\r{name}: {done[0]:,} rows written", nl=False, err=True)

    return update


def _params(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            fail(f"--param {pair!r}: write it as name=value")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


@click.group("report")
def report_group() -> None:
    """Named CSV reports: list, run, history, prune, schedule."""


@report_group.command("list")
@with_appcontext
def list_command() -> None:
    """Show the reports: name, schedule, next run and description."""
    from .scheduler import next_fire_time

    now = utcnow()
    for d in definitions().values():
        nxt = next_fire_time(d, now)
        when = f"{d.schedule} ({d.timezone}), next {format_local(nxt, d.zone)}" if d.schedule and nxt else "not scheduled"
        click.echo(f"{d.name:<16} {when}")
        click.echo(f"{'':<16} {d.description}")


@report_group.command("run")
@click.argument("name")
@click.option("--since", help="Window start, in the report's time zone unless an offset is given.")
@click.option("--until", help="Window end (exclusive).")
@click.option("--period", type=click.Choice(PERIODS), help="A named window instead of --since/--until.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A report parameter (repeatable).")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True), help="Write here ('-' for stdout) instead of the reports folder.")
@click.option("--gzip", is_flag=True, help="Compress the file (.csv.gz).")
@with_appcontext
@db_errors
def run_command(name: str, since: str | None, until: str | None, period: str | None, params: tuple[str, ...],
                out: str | None, gzip: bool) -> None:
    """Run a report now and print a one-line summary."""
    defn = get_definition(name)
    try:
        start, end = window(since, until, period, defn.default_period, defn.zone, utcnow())
        values = defn.parse_params(_params(params))
    except ReportError as exc:
        fail(str(exc))
    runner.recover()
    to_stdout = out == "-"
    target = None
    if out and not to_stdout:
        target = Path(out).resolve()
    elif to_stdout:
        target = runner.reports_dir() / ".stdout" / f"{defn.name}.csv"
    run = runner.start_run(defn, start, end, values)
    try:
        run = runner.execute(run, defn, gzip=gzip, out=target, progress=_progress(defn.name))
    except runner.ReportFailed as exc:
        fail(f"report {defn.name} failed (run {exc.run.id}): {exc}")
    finally:
        if sys.stderr.isatty():
            click.echo("", err=True)
    if to_stdout:
        assert target is not None
        sys.stdout.buffer.write(target.read_bytes())
        target.unlink()
        return
    click.echo(f"{defn.name}: {run.rows} rows, {run.bytes} bytes, {run.duration_ms / 1000:.2f} s -> "
               f"{runner.reports_dir() / run.path if not Path(run.path).is_absolute() else run.path}")


@report_group.command("history")
@click.argument("name", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@with_appcontext
@db_errors
def history_command(name: str | None, limit: int) -> None:
    """Recent runs, newest first."""
    if name:
        get_definition(name)
    stmt = select(ReportRun).order_by(ReportRun.started_at.desc(), ReportRun.id.desc()).limit(limit)
    if name:
        stmt = stmt.where(ReportRun.report == name)
    runs = db.session.scalars(stmt).all()
    if not runs:
        click.echo("(no runs)")
    for r in runs:
        detail = r.error if r.status in ("failed", "missed") else f"{r.rows} rows, {r.bytes} bytes, {r.path}"
        click.echo(f"{r.id:>6} {r.report:<16} {format_local(r.started_at):<24} {r.status:<9} "
                   f"{format_local(r.period_start)} .. {format_local(r.period_end)}  {detail}")


def register(group: Any) -> None:
    group.add_command(report_group)
