"""`manage.py run`: serve the app with waitress, a production WSGI server."""
from __future__ import annotations

import socket
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


def listening_socket(host: str, port: int, send_timeout: int) -> socket.socket:
    """The server's socket, bound to ``host``:``port``, whose connections end after ``send_timeout`` seconds of
    data left unsent behind a client's zero window (TCP_USER_TIMEOUT, inherited by each accepted connection;
    Linux). waitress takes no option for it, so the socket is made here and handed to waitress."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, send_timeout * 1000)
    sock.bind(address)
    return sock


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@with_appcontext
@db_errors
def run_command(host: str, port: int, threads: int) -> None:
    """Serve the app with waitress (a production WSGI server)."""
    from waitress import serve  # only the server process needs it

    app = cast("LocalProxy[Flask]", current_app)._get_current_object()  # waitress's threads need the app itself
    click.echo(f"serving http://{host}:{port}/admin/ (Ctrl+C to stop)")
    sock = listening_socket(host, port, int(app.config["EXPORT_SEND_TIMEOUT"]))
    serve(app, sockets=[sock], **waitress_settings(app.config, threads))
