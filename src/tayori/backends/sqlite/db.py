"""One SQLite file shared safely by many threads and processes.

WAL mode, a busy timeout, one ``BEGIN IMMEDIATE`` transaction per call, and a
process-local lock so threads of one process queue up in Python instead of
spinning in SQLite's busy handler.

Each thread has its own connection, closed when the thread ends (a worker that
starts a thread per execution must not leak two file descriptors per thread).
A forked child never touches, not even closes, a connection opened by its parent.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from tayori.errors import QueueUnavailable

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
_LOCKED_RETRY_SECONDS = 60.0

# Connections inherited across fork(): SQLite forbids using them in the child, and
# closing one there could disturb the parent's locks, so the child keeps them open.
_FORK_ORPHANS: list[sqlite3.Connection] = []


class _Owned:
    """A thread's connection; closed when the thread-local drops it (thread end)."""

    __slots__ = ("__weakref__", "conn", "pid")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()

    def close(self) -> None:
        if self.pid == os.getpid():
            try:
                self.conn.close()
            except sqlite3.Error:
                pass

    def __del__(self) -> None:
        if self.pid != os.getpid():
            _FORK_ORPHANS.append(self.conn)  # keep it referenced: never closed in the child
        else:
            self.close()


class Database:
    def __init__(self, path: str, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._pid = os.getpid()
        self._all: weakref.WeakSet[_Owned] = weakref.WeakSet()
        self._all_lock = threading.Lock()
        try:
            with self.write() as conn:
                for statement in _split(schema):
                    conn.execute(statement)
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"cannot open SQLite store {path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # forked: never reuse the parent's connections or lock
            with self._all_lock:
                if self._pid != os.getpid():
                    _FORK_ORPHANS.extend(owned.conn for owned in list(self._all))
                    self._local = threading.local()
                    self._write_lock = threading.Lock()
                    self._all = weakref.WeakSet()
                    self._pid = os.getpid()
        owned = getattr(self._local, "owned", None)
        if owned is None:
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
            owned = _Owned(conn)
            self._local.owned = owned
            with self._all_lock:
                self._all.add(owned)
        return owned.conn

    def _retry_busy(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt``; a locked or busy store is retried (up to a minute), and every
        SQLite error surfaces as ``QueueUnavailable``, never as sqlite3's."""
        deadline = time.monotonic() + _LOCKED_RETRY_SECONDS
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise QueueUnavailable(f"SQLite store {self.path}: {exc}") from None
                if time.monotonic() > deadline:
                    raise QueueUnavailable(
                        f"SQLite store {self.path} stayed locked for {_LOCKED_RETRY_SECONDS:.0f}s"
                    ) from None
                time.sleep(0.01)
            except sqlite3.Error as exc:
                raise QueueUnavailable(f"SQLite store {self.path}: {exc}") from None

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """One write statement in autocommit mode; returns the row count.

        A single statement is atomic by itself, so this costs one call into SQLite
        instead of BEGIN + statement + COMMIT: fewer GIL hand-offs on the hot path.
        """
        conn = self._connect()
        with self._write_lock:
            return self._retry_busy(lambda: conn.execute(sql, params).rowcount)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction; 'database is locked' is retried, never surfaced raw."""
        conn = self._connect()
        with self._write_lock:
            self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
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
        """A connection for single-statement reads (autocommit snapshot).

        Prefer :meth:`query`, which maps SQLite errors to ``QueueUnavailable``.
        """
        return self._connect()

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        """One read statement; a busy store is retried, errors never surface as sqlite3's."""
        return self._retry_busy(lambda: self._connect().execute(sql, params).fetchall())

    def query_one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> tuple[Any, ...] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        with self._all_lock:
            for owned in list(self._all):
                owned.close()
            self._all = weakref.WeakSet()
        self._local = threading.local()


def _split(schema: str) -> list[str]:
    return [s.strip() for s in schema.split(";") if s.strip()]


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass
