"""Streamed CSV responses, shared by the activity export and the model list exports."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence

from flask import Flask, Response, current_app, stream_with_context
from sqlalchemy import literal, select
from werkzeug.exceptions import ServiceUnavailable

from .. import signals
from ..csvsafe import Chunk, csv_chunks
from ..state import db


def csv_response(filename: str, header: Sequence[str], chunks: Iterable[Chunk], export: str) -> Response:
    """An attachment streamed chunk by chunk (flat memory), formula-safe, observed by ``export-streamed``.

    A chunk is a list of rows (every cell guarded on the way out) or CSVText rendered already (see csv_chunks).
    The database is asked once here, before the response starts, so a database that is down gets the app's 503
    page rather than a 200 that breaks off (once streaming, a failure can only cut the download short). The
    rows themselves are read only as the response is sent: the query must not start inside the view, whose
    session is closed when the view returns (a COPY in progress would hold its connection).
    """
    db.session.execute(select(literal(1)))
    slots = export_slots(current_app)
    if not slots.acquire(blocking=False):
        raise ServiceUnavailable(f"{current_app.config.get('EXPORT_CONCURRENCY', 4)} exports are being written "
                                 "right now, the most at once. Try again in a minute.", retry_after=60)
    try:
        observed = _ObservedCSV(header, chunks, export) if signals.export_streamed.receivers else None
        response = Response(stream_with_context(observed or csv_chunks(header, chunks)),
                            mimetype="text/csv", headers={"Content-Disposition": f"attachment; filename={filename}"})
        if observed is not None:
            # stream_with_context does not close an iterator it never started; the response's close always runs.
            response.call_on_close(observed.close)
    except BaseException:
        slots.release()
        raise
    response.call_on_close(slots.release)  # however the download ends: complete, cut off, never started
    return response


def export_slots(app: Flask) -> threading.BoundedSemaphore:
    """The app's EXPORT_CONCURRENCY slots (default 4): CSV exports written at once by this process.

    An export keeps a server thread and a database connection while it is written; with no cap, sixteen at once
    held every thread of the server and the login page waited seconds behind them. The rest are refused (503).
    """
    key = "flask_activity.export_slots"
    slots = app.extensions.get(key)
    if slots is None:  # setdefault: two first requests at once still share one semaphore
        slots = app.extensions.setdefault(key, threading.BoundedSemaphore(int(app.config.get("EXPORT_CONCURRENCY", 4))))
    return slots


class _ObservedCSV:
    """csv_chunks, counting rows and bytes; ``export-streamed`` is sent once, when the stream ends or is closed.

    An iterator object with an idempotent close() that the response also calls: a generator closed before
    its first chunk never runs its ``finally`` (a HEAD request, a client gone at once).
    """

    def __init__(self, header: Sequence[str], chunks: Iterable[Chunk], export: str) -> None:
        self.sender, self.started = signals.app_sender(), time.perf_counter()
        self.export, self.rows, self.bytes, self.reported = export, 0, 0, False
        self.pieces = csv_chunks(header, self._counting(chunks))

    def _counting(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        for chunk in chunks:
            self.rows += len(chunk)
            yield chunk

    def __iter__(self) -> _ObservedCSV:
        return self

    def __next__(self) -> str:
        try:
            piece = next(self.pieces)
        except StopIteration:
            self._report(complete=True)
            raise
        self.bytes += len(piece.encode("utf-8"))
        return piece

    def close(self) -> None:
        """Called by the server when the response ends, however it ends."""
        self.pieces.close()
        self._report(complete=False)

    def _report(self, complete: bool) -> None:
        if self.reported:
            return
        self.reported = True
        signals.send(signals.export_streamed, self.sender, export=self.export, rows=self.rows, bytes=self.bytes,
                     duration=time.perf_counter() - self.started, complete=complete)
