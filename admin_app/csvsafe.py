"""CSV that spreadsheets cannot turn into formulas. Shared by the admin export and reports."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from .types import UTC

# A cell starting with one of these can be evaluated as a formula by spreadsheet apps
# (OWASP's list, plus the full-width forms some spreadsheets also accept).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """Return a value that is safe to write to a CSV cell.

    Text starting with a formula trigger gets a leading apostrophe (OWASP's advice);
    plain numbers, including negative ones written as text, are left as they are.
    Datetimes become ISO-8601 in UTC with the offset.
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return value
    text = str(value)
    # Leading spaces do not stop some spreadsheets from evaluating what follows them.
    if (text.startswith(FORMULA_TRIGGERS) or text.lstrip().startswith(FORMULA_TRIGGERS)) \
            and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]], chunk_rows: int = 1000) -> Iterator[str]:
    """Yield RFC 4180 CSV text (CRLF line ends) in chunks of ``chunk_rows`` rows.

    Memory holds one chunk, whatever the number of rows.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    n = 0
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        n += 1
        if n % chunk_rows == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate(0)
    tail = buf.getvalue()
    if tail:
        yield tail
