"""Reading the rows of a PostgreSQL ``COPY ... TO STDOUT`` from libpq directly, and the end of the COPY."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def copy_rows(copy: Any) -> Iterator[Any]:
    """The rows of a COPY TO, as psycopg's ``for row in copy`` yields them, at a fraction of its cost per row.

    psycopg reads each row through its generator and wait() machinery (about 2 µs a row, most of an export's
    time). Here rows libpq has already received are taken straight from it without blocking
    (``get_copy_data(1)``); when none is buffered, psycopg's own read() waits for the socket (and, should the
    data end there, fetches the statement's result and raises its error). When the end is read here, the
    statement's result is fetched here too and a server error (a statement timeout, say) raised as psycopg would.
    """
    pgconn = copy.connection.pgconn
    while True:
        nbytes, data = pgconn.get_copy_data(1)
        if nbytes > 0:
            yield data
        elif nbytes == 0:
            if not (data := copy.read()):
                return
            yield data
        else:
            end_copy(pgconn)
            return


def end_copy(pgconn: Any) -> None:
    """Read the result that follows the end of COPY data; raise the server's error, typed, if it failed."""
    import psycopg  # here, not at the top: only PostgreSQL exports need the driver
    from psycopg import pq

    results = []
    while (result := pgconn.get_result()) is not None:
        results.append(result)
    failed = next((r for r in results if r.status != pq.ExecStatus.COMMAND_OK), None)
    if failed is not None:
        sqlstate = failed.error_field(pq.DiagnosticField.SQLSTATE)
        error = psycopg.errors.lookup(sqlstate.decode()) if sqlstate else psycopg.DatabaseError
        raise error((failed.error_message or b"COPY failed").decode(errors="replace").strip())
