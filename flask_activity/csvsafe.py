"""CSV that spreadsheets cannot turn into formulas. Shared by the admin export and reports."""
from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .types import UTC

# A cell starting with one of these can be evaluated as a formula by spreadsheet apps
# (OWASP's list, plus the full-width forms some spreadsheets also accept).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# ASCII digits only: a sign before other digits (Arabic-Indic, full-width) is no plain number, so it is guarded.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


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
    if isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    # Leading spaces, and invisible format characters (a zero-width space, a BOM), do not stop some spreadsheets
    # from evaluating what follows them.
    if (text.startswith(FORMULA_TRIGGERS) or text.lstrip(IGNORED).startswith(FORMULA_TRIGGERS)) \
            and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


# Text starting with none of these never needs safe_cell (a C-level startswith skips the call for nearly every
# cell): the triggers, and every whitespace character, since safe_cell looks past leading whitespace.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")  # every str.isspace() character
# Invisible format characters (Unicode category Cf: U+200B, U+FEFF, U+2060...), looked past like whitespace: the
# ranges of Unicode 14 (Python 3.11's unicodedata; a test compares them with the running Python's).
_CF_RANGES = ((0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD), (0x70F, 0x70F), (0x890, 0x891),
              (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064),
              (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
              (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F))
FORMAT_CHARACTERS = "".join(chr(c) for first, last in _CF_RANGES for c in range(first, last + 1))
IGNORED = WHITESPACE + FORMAT_CHARACTERS
SUSPECT: tuple[str, ...] = tuple(dict.fromkeys(FORMULA_TRIGGERS + tuple(IGNORED)))
# Text that a CSV writer would quote, or that safe_cell might change: anything else is written as it is.
NOT_PLAIN = re.compile('[,"\r\n]|^[' + re.escape("".join(SUSPECT)) + "]")


def chunked(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    """Lists of up to ``size`` rows."""
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


@dataclass(frozen=True)
class CSVText:
    """Rows the database side has already rendered as formula-safe RFC 4180 text (CRLF ends, no header).

    ``len()`` is the number of rows, so code that counts a chunk's rows counts these alike.
    """

    text: str
    rows: int

    def __len__(self) -> int:
        return self.rows


Chunk = Sequence[Sequence[Any]] | CSVText  # rows, or text a database-side writer rendered


def csv_chunks(header: Sequence[str], chunks: Iterable[Chunk]) -> Generator[str, None, None]:
    """Yield RFC 4180 CSV text (CRLF line ends): the header with the first chunk, then one piece per chunk.

    A chunk is a list of rows, every cell of which goes through safe_cell, or a CSVText rendered
    already (activity.iter_event_csv: what lets an export keep up with the database). Memory holds one chunk.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])  # sent with the first chunk (or alone if there is none)
    first = True
    for chunk in chunks:
        if not first:
            buf.seek(0)
            buf.truncate(0)
        first = False
        if isinstance(chunk, CSVText):
            buf.write(chunk.text)
        else:
            writer.writerows([[safe_cell(v) for v in row] for row in chunk])
        yield buf.getvalue()
    if first:
        yield buf.getvalue()


def csv_cell(value: Any) -> str:
    """One formula-safe cell as a CSV writer writes it (quoted where needed), for text built by hand."""
    return csv_row((value, ""))[:-3]  # a second, empty cell: a lone empty field would be written as ""


def csv_row(values: Sequence[Any]) -> str:
    """One formula-safe CSV line with its CRLF: for the rare row a fast writer hands back to Python."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([safe_cell(v) for v in values])
    return buf.getvalue()


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]], chunk_rows: int = 1000) -> Iterator[str]:
    """Yield formula-safe RFC 4180 CSV text in pieces of ``chunk_rows`` rows; memory holds one piece."""
    return csv_chunks(header, chunked(rows, chunk_rows))
