"""`manage.py run`: serve the app with waitress, a production WSGI server, in one process per core.

waitress writes responses from its own event loop, so a client that stops reading holds no app thread (see
waitress_settings); it runs in one process, so one core. ``--workers N`` forks N waitress processes, each
listening on the port with SO_REUSEPORT so the kernel spreads connections over them; the parent restarts a worker
that dies and stops them all on SIGTERM or Ctrl+C. N defaults to WEB_CONCURRENCY, else one per usable core, but 1
while login limits are counted in each process's memory (see default_workers).
"""
from __future__ import annotations

import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from jinja2 import TemplateError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.local import LocalProxy

from admin_app.extensions import db
from flask_activity import activity
from flask_activity.cli.errors import db_errors

log = logging.getLogger(__name__)

#: waitress holds back a thread once a response has this many bytes unsent; no response of ours gets there.
UNBOUNDED_BUFFER = 1 << 62


def waitress_settings(config: dict[str, Any], threads: int) -> dict[str, Any]:
    """waitress's settings for this app, from its config: what a stalled or oversized client may cost.

    - A client that stops reading must not hold a thread (eight stalled CSV downloads stopped the whole app).
      waitress blocks the app's thread once a response has outbuf_high_watermark bytes unsent (16 MB by default);
      with no such mark the thread writes the whole response into waitress's buffer (memory up to
      outbuf_overflow, then a temporary file) and is free for the next request as soon as the export is read
      from the database, so it also gives its database connection back.
    - The stalled connection and its buffer go after EXPORT_SEND_TIMEOUT seconds: waitress's channel_timeout
      cannot close a connection whose socket never becomes writable again, so the kernel does (see
      listening_socket). channel_timeout closes connections idle that long.
    - A body over MAX_CONTENT_LENGTH is refused (413) from its Content-Length, before waitress reads it.
    """
    send_timeout = int(config["EXPORT_SEND_TIMEOUT"])
    return {
        "threads": threads,
        "channel_timeout": send_timeout,
        "cleanup_interval": max(1, min(30, send_timeout // 2)),
        "outbuf_high_watermark": UNBOUNDED_BUFFER,
        "outbuf_overflow": 1024 * 1024,  # waitress's default, said here: past 1 MB a response waits on disk
        "max_request_body_size": int(config["MAX_CONTENT_LENGTH"]),
        "connection_limit": 100,  # waitress's default: beyond it new connections wait in the listen backlog
        "ident": "admin-app",
    }


def listening_socket(host: str, port: int, send_timeout: int, reuse_port: bool = False) -> socket.socket:
    """The server's socket, bound to ``host``:``port``, whose connections end after ``send_timeout`` seconds of
    data left unsent behind a client's zero window (TCP_USER_TIMEOUT, inherited by each accepted connection;
    Linux). waitress takes no option for it, so the socket is made here and handed to waitress."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:  # one socket per worker on the same port: the kernel spreads new connections evenly over them
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, send_timeout * 1000)
    sock.bind(address)
    return sock


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (a container limited to 2
    CPUs on a 64-core host gets 2)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def default_workers(config: Mapping[str, Any] | None = None) -> int:
    """WEB_CONCURRENCY if set; else one per usable core, but 1 while login limits are counted in each process's
    memory (RATELIMIT_STORAGE_URI=memory://): N workers would each allow the whole limit, N times the attempts.
    1 where there is no fork (Windows). 0 for a WEB_CONCURRENCY that is not a number (refused by run_command)."""
    if not hasattr(os, "fork"):
        return 1
    given = os.environ.get("WEB_CONCURRENCY", "").strip()
    if given:
        return int(given) if given.isdigit() and int(given) > 0 else 0
    if config is not None and limits_per_process(config):
        return 1
    return usable_cores()


def limits_per_process(config: Mapping[str, Any]) -> bool:
    """Whether login limits are counted by each process alone (in memory), not in a store workers share."""
    return bool(config.get("RATELIMIT_ENABLED")) and str(config.get("RATELIMIT_STORAGE_URI", "")).startswith(
        "memory://")


def precompile_templates(app: Flask) -> int:
    """Compile every HTML template the app can render, once, before serving (and before forking: each worker then
    starts with them compiled). A fresh worker's first dashboard spent about 40 ms of its ~180 ms compiling them;
    not done in create_app, where it would cost every app (the tests make hundreds) about 220 ms."""
    compiled = 0
    for name in app.jinja_env.list_templates(filter_func=lambda n: n.endswith(".html")):
        try:
            app.jinja_env.get_template(name)
        except TemplateError as exc:  # a template of a library the app never renders: not this server's problem
            log.debug("template %s not precompiled: %s", name, exc)
        else:
            compiled += 1
    return compiled


def compile_statements(app: Flask) -> None:
    """Run the dashboard's statements once before serving (activity.warm_up), so every worker starts with them
    compiled. Optional: with the database unreachable the server still starts, and says so."""
    try:
        shared = float(app.config["DASHBOARD_COUNTS_REFRESH"]) > 0 and activity.shared_counts_ready()
        activity.warm_up(ZoneInfo(app.config["APP_TIMEZONE"]), int(app.config["DASHBOARD_COUNT_CAP"]), shared=shared)
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        click.echo(f"note: the dashboard's statements are compiled on first use: the database said {first}", err=True)
    finally:
        db.session.remove()


def serve_forked(workers: int, serve_one: Callable[[], None], restart_pause: float = 1.0) -> None:
    """Run ``serve_one`` in ``workers`` child processes until SIGTERM/SIGINT, restarting any that exits (after a
    pause that doubles, up to 30 s, while workers keep dying)."""
    children: set[int] = set()
    stopping = False
    stop_signals = {signal.SIGTERM, signal.SIGINT}

    def spawn() -> None:
        # No signal between the fork and the bookkeeping: a stop in that gap would miss the new worker, and one
        # reaching the worker before its handlers are reset would run the parent's stop there.
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        try:
            pid = os.fork()
            if pid == 0:  # the worker: default signal handling, serve until killed
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
                code = 0
                try:
                    serve_one()
                except Exception:  # said before exiting: os._exit would drop the traceback
                    log.exception("worker %s stopped on an error", os.getpid())
                    code = 1
                finally:
                    sys.stderr.flush()
                    os._exit(code)
            children.add(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                children.discard(pid)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        spawn()
    pause, last_exit = restart_pause, 0.0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue
        children.discard(pid)
        if not stopping:
            now = time.monotonic()
            pause = min(30.0, pause * 2) if now - last_exit < 60 else restart_pause
            last_exit = now
            click.echo(f"worker {pid} exited ({os.waitstatus_to_exitcode(status)}); starting another in "
                       f"{pause:g} s", err=True)
            time.sleep(pause)  # a worker that dies at once must not make the parent spin
            if not stopping:  # a SIGTERM during the pause: start nothing the stop would miss
                spawn()


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Threads per worker process.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default: WEB_CONCURRENCY, else one per core; 1 when login limits are counted "
                   "in memory, RATELIMIT_STORAGE_URI=memory://). Each is a waitress server on the "
                   "port; more workers use more cores and more memory (about 100 MB each).")
@with_appcontext
@db_errors
def run_command(host: str, port: int, threads: int, workers: int | None) -> None:
    """Serve the app with waitress (a production WSGI server), one process per core where that is safe."""
    from waitress import serve  # only the server process needs it

    app = cast("LocalProxy[Flask]", current_app)._get_current_object()  # waitress's threads need the app itself
    count = workers or default_workers(app.config)
    if count < 1:
        raise click.UsageError(f"WEB_CONCURRENCY must be a whole number of processes, not "
                               f"{os.environ.get('WEB_CONCURRENCY')!r}")
    if limits_per_process(app.config):
        if count > 1:
            click.echo(f"warning: login limits are counted in each worker's memory (RATELIMIT_STORAGE_URI="
                       f"memory://): {count} workers allow {count} times the attempts; unset it (a file the workers "
                       "share) or set redis://... to count once", err=True)
        elif workers is None and usable_cores() > 1:
            click.echo(f"note: 1 worker of {usable_cores()} cores, because login limits are counted in memory "
                       "(RATELIMIT_STORAGE_URI=memory://); unset it (a file the workers share) to use every core",
                       err=True)
    precompile_templates(app)
    compile_statements(app)
    send_timeout = int(app.config["EXPORT_SEND_TIMEOUT"])
    many = count > 1 and hasattr(socket, "SO_REUSEPORT")
    # A port in use fails here, in the parent, with a plain bind: a socket without SO_REUSEPORT cannot share the
    # port with another instance's workers (which would otherwise split its traffic with this one, silently).
    sock = listening_socket(host, port, send_timeout)
    settings = waitress_settings(app.config, threads)
    click.echo(f"serving http://{host}:{port}/admin/ with {count} worker process{'es' if count > 1 else ''} x "
               f"{threads} threads (Ctrl+C to stop)")
    if count == 1:
        serve(app, sockets=[sock], **settings)
        return
    if many:
        # Each worker listens on a socket of its own (SO_REUSEPORT): the kernel hashes each new connection to one
        # of them. With one shared socket, whichever worker woke first took every keep-alive connection of a
        # burst, and a second worker served almost nothing (measured: 1 and 2 workers both ~350 req/s).
        sock.close()  # the workers bind again at once; the check above was its only job
    else:
        sock.listen(1024)
    engine_dispose = _forget_connections(app)
    engine_dispose()  # nothing the parent opened is shared with a worker

    def serve_one() -> None:
        engine_dispose()
        own = listening_socket(host, port, send_timeout, reuse_port=True) if many else sock
        serve(app, sockets=[own], **settings)

    sys.stdout.flush()
    serve_forked(count, serve_one)


def _forget_connections(app: Flask) -> Callable[[], None]:
    """A function that drops the app's pooled database connections without closing them for anyone else (after a
    fork, SQLAlchemy's advice: dispose(close=False))."""
    def dispose() -> None:
        with app.app_context():
            for engine in app.extensions["sqlalchemy"].engines.values():
                engine.dispose(close=False)
    return dispose
