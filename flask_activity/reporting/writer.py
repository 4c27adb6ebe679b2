"""Turning a report's rows into CSV text: through pandas a chunk at a time, or raw chunks straight through, every
cell and header through the shared formula guard."""
from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any, Protocol

from ..csvsafe import Chunk, csv_chunks, safe_cell
from .definition import ReportDefinition, RunContext

if TYPE_CHECKING:
    import pandas as pd

Progress = Callable[[int], None]


class TextSink(Protocol):
    """Where the CSV text goes (a report file)."""

    def write_text(self, text: str) -> None: ...


def write_csv(sink: TextSink, defn: ReportDefinition, ctx: RunContext, chunk_size: int,
              progress: Progress | None = None) -> int:
    """Write the report's header and rows to ``sink``, ``chunk_size`` rows at a time; return the row count."""
    chunks = defn.chunks
    if chunks is not None:
        return _write_raw(sink, defn.columns, lambda: chunks(ctx, chunk_size), progress)
    with closing(_row_chunks(defn, ctx, chunk_size)) as rows:
        return _write_frames(sink, defn.columns, rows, progress)


def _row_chunks(defn: ReportDefinition, ctx: RunContext, size: int) -> Generator[list[Sequence[Any]], None, None]:
    if defn.query is not None:
        result = ctx.session.execute(defn.query(ctx).execution_options(stream_results=True, yield_per=size))
        try:
            for part in result.partitions(size):
                yield [tuple(r) for r in part]
        finally:  # a failed or abandoned run leaves no server-side cursor open (even on a connection now lost)
            result.close()
        return
    if defn.rows is not None:
        rows = iter(defn.rows(ctx))
        while chunk := list(itertools.islice(rows, size)):
            yield chunk


def _write_raw(sink: TextSink, columns: Sequence[str], chunks: Callable[[], Iterable[Chunk]],
               progress: Progress | None) -> int:
    """Rows (each cell through the formula guard) or rendered CSVText straight to CSV, no pandas.

    ``chunks`` is called when csv_chunks first asks for rows, after the header, as it always was.
    """
    rows = 0

    def counted() -> Iterator[Chunk]:
        nonlocal rows
        for chunk in chunks():
            rows += len(chunk)
            if progress:
                progress(len(chunk))
            yield chunk

    for piece in csv_chunks(columns, counted()):
        sink.write_text(piece)
    return rows


def _write_frames(sink: TextSink, columns: Sequence[str], chunks: Iterable[list[Sequence[Any]]],
                  progress: Progress | None) -> int:
    """Each chunk as a pandas frame rendered to CSV text."""
    import pandas as pd  # here, not at import: the app and raw-row reports run without it (~60 MB)

    sink.write_text(_csv_text(pd.DataFrame(columns=list(columns)), header=True))
    rows = 0
    for chunk in chunks:
        # dtype=object: no inference, so a nullable id stays 3 (not 3.0) and times stay aware
        frame = pd.DataFrame(chunk, columns=list(columns), dtype=object)
        sink.write_text(_csv_text(frame, header=False))
        rows += len(chunk)
        if progress:
            progress(len(chunk))
    return rows


def _safe(value: Any) -> Any:
    if value is None or type(value).__name__ == "NaTType":  # pandas' missing time, without importing pandas
        return ""
    return safe_cell(value)


def _csv_text(frame: pd.DataFrame, header: bool) -> str:
    """One chunk as RFC 4180 text; every cell and header through the shared formula guard."""
    safe = frame.map(_safe)
    safe.columns = [_safe(c) for c in frame.columns]
    buf = io.StringIO()
    safe.to_csv(buf, header=header, index=False, lineterminator="\r\n")
    return buf.getvalue()
