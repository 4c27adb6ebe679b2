"""Streamed CSV responses, shared by the activity export and the model list exports."""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response, stream_with_context

from .. import signals
from ..csvsafe import csv_chunks


def csv_response(filename: str, header: Sequence[str], chunks: Iterable[Sequence[Sequence[Any]]], export: str,
                 text_columns: Sequence[int] | None = None) -> Response:
    """An attachment streamed chunk by chunk (flat memory), formula-safe, observed by ``export-streamed``.

    ``text_columns``: see csv_chunks (None guards every cell).
    """
    if signals.export_streamed.receivers:
        lines = _observed(header, chunks, export, text_columns)
    else:
        lines = csv_chunks(header, chunks, text_columns)
    return Response(stream_with_context(lines), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


def _observed(header: Sequence[str], chunks: Iterable[Sequence[Sequence[Any]]], export: str,
              text_columns: Sequence[int] | None) -> Iterator[str]:
    """csv_chunks, counting rows and bytes, then ``export-streamed`` once the stream ends or is closed."""
    sender, started = signals.app_sender(), time.perf_counter()
    count = sent = 0
    complete = False

    def counting() -> Iterator[Sequence[Sequence[Any]]]:
        nonlocal count
        for chunk in chunks:
            count += len(chunk)
            yield chunk

    pieces = csv_chunks(header, counting(), text_columns)
    try:
        for piece in pieces:
            sent += len(piece.encode("utf-8"))
            yield piece
        complete = True
    finally:  # also when the client went away and the server closed the response
        pieces.close()
        signals.send(signals.export_streamed, sender, export=export, rows=count, bytes=sent,
                     duration=time.perf_counter() - started, complete=complete)
