"""`manage.py run`: serve the app with waitress, a production WSGI server, in one process per core.

waitress writes responses from its own event loop, so a client that stops reading holds no app thread (see
waitress_settings); it runs in one process, so one core. ``--workers N`` forks N waitress processes after binding
the socket: they share it, the kernel hands each connection to one of them, and the parent restarts a worker that
dies and stops them all on SIGTERM or Ctrl+C. N defaults to WEB_CONCURRENCY, else the number of cores.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.local import LocalProxy

from flask_activity.cli.errors import db_errors

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


def default_workers() -> int:
    """WEB_CONCURRENCY if set, else the cores this process may use; 1 where there is no fork (Windows)."""
    if not hasattr(os, "fork"):
        return 1
    given = os.environ.get("WEB_CONCURRENCY", "").strip()
    if given:
        return int(given) if given.isdigit() and int(given) > 0 else 0  # 0: refused by run_command
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def serve_forked(workers: int, serve_one: Callable[[], None], restart_pause: float = 1.0) -> None:
    """Run ``serve_one`` in ``workers`` child processes until SIGTERM/SIGINT, restarting any that exits."""
    children: set[int] = set()
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:  # the worker: default signal handling, serve until killed
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                serve_one()
            finally:
                os._exit(0)
        children.add(pid)

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
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue
        children.discard(pid)
        if not stopping:
            click.echo(f"worker {pid} exited ({os.waitstatus_to_exitcode(status)}); starting another", err=True)
            time.sleep(restart_pause)  # a worker that dies at once must not make the parent spin
            if not stopping:  # a SIGTERM during the pause: start nothing the stop would miss
                spawn()


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Threads per worker process.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default: WEB_CONCURRENCY, else one per core). Each is a waitress server "
                   "on the same socket; more workers use more cores and more memory (about 100 MB each).")
@with_appcontext
@db_errors
def run_command(host: str, port: int, threads: int, workers: int | None) -> None:
    """Serve the app with waitress (a production WSGI server), one process per core."""
    from waitress import serve  # only the server process needs it

    count = workers or default_workers()
    if count < 1:
        raise click.UsageError(f"WEB_CONCURRENCY must be a whole number of processes, not "
                               f"{os.environ.get('WEB_CONCURRENCY')!r}")
    app = cast("LocalProxy[Flask]", current_app)._get_current_object()  # waitress's threads need the app itself
    send_timeout = int(app.config["EXPORT_SEND_TIMEOUT"])
    many = count > 1 and hasattr(socket, "SO_REUSEPORT")
    sock = listening_socket(host, port, send_timeout, reuse_port=many)  # a port in use fails here, in the parent
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
        sock.close()
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
