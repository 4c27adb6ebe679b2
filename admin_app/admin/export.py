"""Streamed CSV responses, shared by the activity export and the model list exports."""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response, stream_with_context

from .. import signals
from ..csvsafe import csv_lines


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]], export: str,
                 chunk_rows: int = 1000) -> Response:
    """An attachment streamed chunk by chunk (flat memory), formula-safe, observed by ``export-streamed``."""
    if signals.export_streamed.receivers:
        lines = _observed(header, rows, export, chunk_rows)
    else:
        lines = csv_lines(header, rows, chunk_rows)
    return Response(stream_with_context(lines), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


def _observed(header: Sequence[str], rows: Iterable[Sequence[Any]], export: str, chunk_rows: int) -> Iterator[str]:
    """csv_lines, counting rows and bytes, then ``export-streamed`` once the stream ends or is closed."""
    sender, started = signals.app_sender(), time.perf_counter()
    count = sent = 0
    complete = False

    def counting() -> Iterator[Sequence[Any]]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    chunks = csv_lines(header, counting(), chunk_rows)
    try:
        for chunk in chunks:
            sent += len(chunk.encode("utf-8"))
            yield chunk
        complete = True
    finally:  # also when the client went away and the server closed the response
        chunks.close()
        signals.send(signals.export_streamed, sender, export=export, rows=count, bytes=sent,
                     duration=time.perf_counter() - started, complete=complete)
