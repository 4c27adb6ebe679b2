"""`flask report ...`: list, run, browse, schedule and prune reports (thin wrappers over flask_activity.reporting)."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from flask_activity.reporting.models import ReportRun

from .. import activity
from ..delivery import deliverer, report_delivery
from ..reporting import runner, runs
from ..reporting.definition import ReportDefinition, ReportError
from ..reporting.files import reports_dir, run_location
from ..reporting.periods import PERIODS, label, window
from ..reporting.registry import get_report, load_reports
from ..reporting.retention import prune
from ..reporting.scheduler import CATCH_UP, check_schedule, next_fire_time, serve, tick
from ..timefmt import format_local
from ..types import utcnow
from .errors import db_errors, fail


def _report(name: str) -> ReportDefinition:
    """The named report, or exit 2 naming the reports there are."""
    try:
        return get_report(name)
    except ReportError as exc:
        fail(str(exc))


def _progress(name: str) -> Callable[[int], None]:
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
    now = utcnow()
    for d in load_reports().values():
        nxt = next_fire_time(d, now)
        when = (f"{d.schedule} ({d.timezone}), next {format_local(nxt, d.zone)}" if d.schedule and nxt
                else "not scheduled")
        click.echo(f"{d.name:<16} {when}")
        click.echo(f"{'':<16} {d.description}")


@report_group.command("run")
@click.argument("name")
@click.option("--since", help="Window start, in the report's time zone unless an offset is given.")
@click.option("--until", help="Window end (exclusive).")
@click.option("--period", type=click.Choice(PERIODS), help="A named window instead of --since/--until.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A report parameter (repeatable).")
@click.option("--out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write here ('-' for stdout) instead of the reports folder.")
@click.option("--gzip", is_flag=True, help="Compress the file (.csv.gz).")
@with_appcontext
@db_errors
def run_command(name: str, since: str | None, until: str | None, period: str | None, params: tuple[str, ...],
                out: str | None, gzip: bool) -> None:
    """Run a report now and print a one-line summary."""
    defn = _report(name)
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
        target = reports_dir() / ".stdout" / f"{defn.name}.csv"
    run = runner.start_run(defn, start, end, values)
    try:
        run = runner.execute(run, defn, gzip=gzip, out=target, progress=_progress(defn.name), kept=not to_stdout)
    except runner.ReportFailed as exc:
        fail(f"report {defn.name} failed (run {exc.run.id}): {exc}")
    finally:
        if sys.stderr.isatty():
            click.echo("", err=True)
    if target is not None and to_stdout:
        sys.stdout.buffer.write(target.read_bytes())
        target.unlink()
        return
    path = Path(run.path or "")
    seconds = (run.duration_ms or 0) / 1000
    click.echo(f"{defn.name}: {run.rows} rows, {run.bytes} bytes, {seconds:.2f} s -> "
               f"{path if path.is_absolute() else reports_dir() / path}")


@report_group.command("history")
@click.argument("name", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@with_appcontext
@db_errors
def history_command(name: str | None, limit: int) -> None:
    """Recent runs, newest first."""
    if name:
        _report(name)
    found = runs.run_history(name, limit)
    if not found:
        click.echo("(no runs)")
    root, replaced = reports_dir(), runs.superseded_by(found)
    for r in found:
        if r.status == "running":
            detail = f"running since {format_local(r.started_at)}"
        elif r.status in ("failed", "missed"):
            detail = r.error or ""
        else:
            where = run_location(r, root, replaced.get(r.id))
            detail = f"{r.rows:,} rows, {r.bytes:,} bytes, sha256 {r.sha256}, {where}"
        click.echo(f"{r.id:>6} {r.report:<16} {format_local(r.started_at):<24} {r.status:<9} "
                   f"{format_local(r.period_start)} .. {format_local(r.period_end)}  {detail}")


def _run_line(defs: dict[str, ReportDefinition]) -> Callable[[ReportRun], None]:
    """One line per run: report, period (in the report's zone), status and rows, file or reason."""

    def echo(run: ReportRun) -> None:
        zone = defs[run.report].zone
        period = f"{run.report} {label(run.period_start, zone)} .. {label(run.period_end, zone)} ({zone})"
        detail = f"{run.rows} rows -> {run.path}" if run.status == "succeeded" else " ".join((run.error or "").split())
        click.echo(f"{period} {run.status}: {detail}")

    return echo


def _delivered(defs: dict[str, ReportDefinition], echo: Callable[[ReportRun], None]) -> Callable[[ReportRun], None]:
    """After each scheduled run: its line, then its file (or its failure) to the report's recipients."""

    def on_run(run: ReportRun) -> None:
        echo(run)
        if run.status not in ("succeeded", "failed"):
            return
        try:
            for d in report_delivery.deliver_run(run, defs[run.report]):
                click.echo(f"  {d.channel} to {d.target}: {d.status}" + (f" ({d.error})" if d.error else ""))
        except Exception:  # a delivery never stops the scheduler; the reason is logged
            logging.getLogger(__name__).exception("delivering run %s of %s failed", run.id, run.report)

    return on_run


@report_group.command("schedule")
@click.option("--report", "names", multiple=True, metavar="NAME",
              help="Only this report (repeatable; default: every report with a schedule).")
@click.option("--once", is_flag=True, help="Run what is due now, then exit (for an external timer).")
@with_appcontext
@db_errors
def schedule_command(names: tuple[str, ...], once: bool) -> None:
    """Run scheduled reports and subscription deliveries, and keep the dashboard's shared counts, in the
    foreground until SIGTERM or Ctrl+C (its own process, never a web worker)."""
    chosen = {n: _report(n) for n in names} if names else load_reports()
    for defn in chosen.values():
        if names and not defn.schedule:
            fail(f"report {defn.name} has no schedule")
        try:
            check_schedule(defn)
        except ReportError as exc:
            fail(str(exc))
    catch_up = current_app.config["REPORT_CATCH_UP"]
    if catch_up not in CATCH_UP:
        fail(f"REPORT_CATCH_UP must be one of {', '.join(CATCH_UP)}, not {catch_up!r}")
    on_run = _delivered(chosen, _run_line(chosen))
    if once:
        runner.recover()
        tick(chosen, utcnow(), on_run=on_run)
        deliverer.tick(utcnow())
        activity.refresh_due(utcnow())
        return
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # a second signal: abandon the run in progress (it is recorded failed)
            raise KeyboardInterrupt
        click.echo(f"{signal.Signals(signum).name}: stopping after the run in progress", err=True)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    scheduled = [d.name for d in chosen.values() if d.schedule]
    every = float(current_app.config["DASHBOARD_COUNTS_REFRESH"])
    click.echo(f"scheduler started (pid {os.getpid()}): {', '.join(scheduled) or 'no scheduled reports'}; "
               f"catch-up: {catch_up}; dashboard counts: " + (f"every {every:g} s" if every > 0 else "off"))
    try:
        serve(chosen, stop, on_run=on_run, also=_also_due)
    except KeyboardInterrupt:
        click.echo("scheduler interrupted", err=True)
        sys.exit(130)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("scheduler stopped")


def _also_due(now: datetime) -> datetime | None:
    """The scheduler's other work at each wake-up: the dashboard's shared counts (which log their own failures), then
    the deliveries; when either is next due."""
    nexts = (activity.refresh_due(now), deliverer.serve_tick(now))
    return min((n for n in nexts if n is not None), default=None)


@report_group.command("prune")
@click.argument("name", required=False)
@click.option("--dry-run", is_flag=True, help="Show what would be removed; remove nothing.")
@with_appcontext
@db_errors
def prune_command(name: str | None, dry_run: bool) -> None:
    """Delete runs older than their report's retention_days, and their files inside the reports folder."""
    chosen = {name: _report(name)} if name else load_reports()
    pruned = prune(chosen, utcnow(), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for p in pruned:
        action = "would delete" if dry_run and p.file_action == "deleted" else p.file_action
        click.echo(f"{verb} run {p.run_id} {p.report} started {format_local(p.started_at)}; "
                   f"file {p.file or '-'}: {action}")
    files = sum(p.file_action == "deleted" for p in pruned)
    click.echo(f"{verb} {len(pruned)} runs and {files} files")
