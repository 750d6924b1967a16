"""One SQLite file shared safely by many threads and processes.

WAL mode, a busy timeout, one ``BEGIN IMMEDIATE`` transaction per call, and a
process-local lock so threads of one process queue up in Python instead of
spinning in SQLite's busy handler.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tayori.errors import QueueUnavailable

BUSY_TIMEOUT_MS = 30_000
_LOCKED_RETRY_SECONDS = 60.0


class Database:
    def __init__(self, path: str, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._pid = os.getpid()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        try:
            with self.write() as conn:
                for statement in _split(schema):
                    conn.execute(statement)
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"cannot open SQLite store {path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # forked: never reuse the parent's connections or lock
            self._local = threading.local()
            self._write_lock = threading.Lock()
            self._all = []
            self._pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise QueueUnavailable(f"cannot open SQLite store {self.path}: {exc}") from None
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction; 'database is locked' is retried, never surfaced raw."""
        conn = self._connect()
        deadline = time.monotonic() + _LOCKED_RETRY_SECONDS
        with self._write_lock:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise QueueUnavailable(f"SQLite store {self.path}: {exc}") from None
                    if time.monotonic() > deadline:
                        raise QueueUnavailable(
                            f"SQLite store {self.path} stayed locked for "
                            f"{_LOCKED_RETRY_SECONDS:.0f}s"
                        ) from None
                    time.sleep(0.01)
            try:
                yield conn
            except sqlite3.Error as exc:
                _rollback(conn)
                raise QueueUnavailable(f"SQLite store {self.path}: {exc}") from None
            except BaseException:
                _rollback(conn)
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    _rollback(conn)
                    raise QueueUnavailable(f"SQLite store {self.path}: {exc}") from None

    def read(self) -> sqlite3.Connection:
        """A connection for single-statement reads (autocommit snapshot)."""
        return self._connect()

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()


def _split(schema: str) -> list[str]:
    return [s.strip() for s in schema.split(";") if s.strip()]


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass
