"""Login limits shared by every worker process on one machine, kept in a small SQLite file (``sqlite:///PATH``).

Why: counted in memory (``memory://``), each of N workers allowed the whole limit, so N workers allowed N times the
attempts, and ``manage.py run`` had to default to one worker. Redis shares them but is a server to run. A file
beside the app needs nothing: every worker (and every thread) opens its own connection, and SQLite's write lock
makes "count, then record the attempt" one step across processes. Machines behind one load balancer still need a
shared store such as Redis; the README says so.

A ``limits`` storage backend: importing this module registers the ``sqlite`` scheme with Flask-Limiter.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from limits.errors import ConfigurationError
from limits.storage import MovingWindowSupport, Storage

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at)",
    "CREATE INDEX IF NOT EXISTS hits_expires ON hits (expires)",
    "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, n INTEGER NOT NULL, expires REAL NOT NULL)",
)


def file_of(uri: str) -> Path:
    """The file a ``sqlite:///relative`` or ``sqlite:////absolute`` URI names (SQLAlchemy's convention)."""
    rest = uri.split("://", 1)[1]
    if not rest.startswith("/") or rest == "/":
        raise ConfigurationError(f"{uri!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return Path(rest[1:])


class SQLiteFileStorage(Storage, MovingWindowSupport):
    """Fixed and moving windows in a SQLite file; one connection per thread, opened again after a fork."""

    STORAGE_SCHEME = ["sqlite"]  # noqa: RUF012 - the type limits' Storage declares; its registry reads it

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        self.path = file_of(uri)
        self._local = threading.local()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (sqlite3.Error, OSError)

    def _db(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():  # a forked worker opens its own
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Its keys name client addresses and accounts: readable by this user only (SQLite gives its -wal
                # and -shm files the same mode).
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            except OSError as exc:  # a storage error, so Flask-Limiter falls back to memory instead of a 500
                raise sqlite3.OperationalError(f"cannot open {self.path}: {exc.strerror}") from exc
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # a crash may lose the last attempts, never the file
            for statement in SCHEMA:
                conn.execute(statement)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The connection inside BEGIN IMMEDIATE: the file's write lock, so read-then-write is one step."""
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    # --- moving window (RATELIMIT_STRATEGY = "moving-window", the app's choice) ----------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        with self._write() as conn:
            conn.execute("DELETE FROM hits WHERE expires <= ?", (now,))
            (used,) = conn.execute("SELECT count(*) FROM hits WHERE key = ? AND at > ?", (key, now - expiry)).fetchone()
            if used + amount > limit:
                return False
            conn.executemany("INSERT INTO hits (key, at, expires) VALUES (?, ?, ?)",
                             [(key, now, now + expiry)] * amount)
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        oldest, n = self._db().execute("SELECT min(at), count(*) FROM hits WHERE key = ? AND at > ?",
                                       (key, now - expiry)).fetchone()
        return (oldest if n else now), int(n)

    # --- fixed window ---------------------------------------------------------------------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._write() as conn:
            conn.execute("DELETE FROM counters WHERE key = ? AND expires <= ?", (key, now))
            conn.execute("INSERT INTO counters (key, n, expires) VALUES (?, ?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET n = n + excluded.n", (key, amount, now + expiry))
            (n,) = conn.execute("SELECT n FROM counters WHERE key = ?", (key,)).fetchone()
            return int(n)

    def get(self, key: str) -> int:
        row = self._db().execute("SELECT n FROM counters WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._db().execute("SELECT expires FROM counters WHERE key = ? AND expires > ?",
                                 (key, time.time())).fetchone()
        return float(row[0]) if row else time.time()

    # --- the rest of the interface --------------------------------------------------------------------------------

    def check(self) -> bool:
        try:
            self._db().execute("SELECT 1").fetchone()
        except (sqlite3.Error, OSError):
            return False
        return True

    def reset(self) -> int | None:
        with self._write() as conn:
            return int(conn.execute("DELETE FROM hits").rowcount + conn.execute("DELETE FROM counters").rowcount)

    def clear(self, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM hits WHERE key = ?", (key,))
            conn.execute("DELETE FROM counters WHERE key = ?", (key,))
