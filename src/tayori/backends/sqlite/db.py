"""One SQLite file shared safely by many threads and processes.

WAL mode and a busy timeout. Writes in one process go through ONE writer connection
behind a process-local lock, so threads queue up in Python instead of spinning in
SQLite's busy handler, and the writer's page cache stays warm (a connection that
another connection wrote behind re-reads its pages).

Single statements (:meth:`Database.execute`) are group-committed: a caller that finds
the writer busy queues its statement and sleeps; the thread that holds the writer
runs every queued statement in one transaction and wakes each caller after the
COMMIT. Each statement is still durable before its own caller returns, so the
callers' guarantees (an idempotency lock written before the task runs) hold; many
threads just share one transaction's cost.

Reads use one connection per thread, closed when the thread ends (a worker that
starts a thread per execution must not leak file descriptors). A forked child never
touches, not even closes, a connection opened by its parent.
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
WRITER_BUSY_TIMEOUT_MS = 0
_LOCKED_RETRY_SECONDS = 60.0
MAX_GROUP = 256  # statements per group commit: bounds one transaction's length

# Connections inherited across fork(): SQLite forbids using them in the child, and
# closing one there could disturb the parent's locks, so the child keeps them open.
_FORK_ORPHANS: list[sqlite3.Connection] = []
_GENERATION = [0]  # bumped in every forked child: cheaper than os.getpid() per call
_FORK_GUARD = threading.Lock()


def _after_fork_in_child() -> None:
    global _FORK_GUARD
    _GENERATION[0] += 1
    _FORK_GUARD = threading.Lock()  # another thread may have held it at fork time


os.register_at_fork(after_in_child=_after_fork_in_child)


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


class _Pending:
    """One queued statement; ``wake`` is held until its group commits (or it must lead)."""

    __slots__ = ("done", "error", "fetch", "lead", "params", "rowcount", "rows", "sql", "wake")

    def __init__(self, sql: str, params: Sequence[Any] | dict[str, Any], fetch: bool) -> None:
        self.sql = sql
        self.params = params
        self.fetch = fetch  # keep the rows (a statement with RETURNING)
        self.rowcount = 0
        self.rows: list[tuple[Any, ...]] = []
        self.error: QueueUnavailable | None = None
        self.done = False
        self.lead = False  # set (under the queue lock) when the lead is handed to it
        self.wake: Any = None  # a lock, made only when the caller has to wait


class Database:
    def __init__(self, path: str, schema: str) -> None:
        self.path = path
        self._schema = schema
        self._pid = os.getpid()
        self._generation = _GENERATION[0]
        self._reset()
        try:
            with self.write() as conn:
                for statement in _split(schema):
                    conn.execute(statement)
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"cannot open SQLite store {path}: {exc}") from None

    def _reset(self) -> None:
        """Fresh per-process state (also in a forked child: never the parent's locks)."""
        self._local = threading.local()
        self._write_lock = threading.Lock()  # held by whoever uses the writer connection
        self._writer_conn: sqlite3.Connection | None = None
        self._queue_lock = threading.Lock()  # guards _pending and _leading
        self._pending: list[_Pending] = []
        self._leading = False
        self._all: weakref.WeakSet[_Owned] = weakref.WeakSet()
        self._all_lock = threading.Lock()

    def _check_fork(self) -> None:
        if self._generation != _GENERATION[0]:
            with _FORK_GUARD:
                if self._generation != _GENERATION[0]:
                    _FORK_ORPHANS.extend(owned.conn for owned in list(self._all))
                    if self._writer_conn is not None:
                        _FORK_ORPHANS.append(self._writer_conn)
                    self._reset()
                    self._pid = os.getpid()
                    self._generation = _GENERATION[0]

    def _open(self) -> sqlite3.Connection:
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
        return conn

    def _connect(self) -> sqlite3.Connection:
        """This thread's read connection."""
        self._check_fork()
        owned = getattr(self._local, "owned", None)
        if owned is None:
            owned = _Owned(self._open())
            self._local.owned = owned
            with self._all_lock:
                self._all.add(owned)
        return owned.conn

    def _writer(self) -> sqlite3.Connection:
        """The process's writer connection; call with ``_write_lock`` held."""
        if self._writer_conn is None:
            conn = self._open()
            # another process's write lock is waited for in _retry_busy, in steps from
            # 0.1 ms: SQLite's own busy handler sleeps 1, 2, 5, 10 ms..., far longer than
            # a writer holds the lock (~30 us), and two worker processes collide often
            conn.execute(f"PRAGMA busy_timeout={WRITER_BUSY_TIMEOUT_MS}")
            self._writer_conn = conn
        return self._writer_conn

    def _retry_busy(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt``; a locked or busy store is retried (up to a minute), and every
        SQLite error surfaces as ``QueueUnavailable``, never as sqlite3's."""
        deadline = time.monotonic() + _LOCKED_RETRY_SECONDS
        pause = 0.0001
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise QueueUnavailable(f"SQLite store {self.path}: {exc}") from None
                if time.monotonic() > deadline:
                    raise QueueUnavailable(
                        f"SQLite store {self.path} stayed locked for {_LOCKED_RETRY_SECONDS:.0f}s"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.005)
            except sqlite3.Error as exc:
                raise QueueUnavailable(f"SQLite store {self.path}: {exc}") from None

    # ------------------------------------------------------------------ writes

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """One write statement, durable when this returns; returns its row count.

        Group-committed with the statements other threads issue meanwhile (see the
        module docstring). Alone, it runs in autocommit mode: one call into SQLite.
        """
        return self._submit(_Pending(sql, params, False)).rowcount

    def execute_returning(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Like :meth:`execute`, for a statement with ``RETURNING``: its rows."""
        return self._submit(_Pending(sql, params, True)).rows

    def _submit(self, mine: _Pending) -> _Pending:
        self._check_fork()
        with self._queue_lock:
            self._pending.append(mine)
            follow = self._leading
            if follow:
                mine.wake = threading.Lock()
                mine.wake.acquire()
            else:
                self._leading = True
        if follow:
            self._follow(mine)
        else:
            self._lead()
        if mine.error is not None:
            raise mine.error
        return mine

    @staticmethod
    def _run(conn: sqlite3.Connection, item: _Pending) -> None:
        sql = item.sql  # queued by execute()/execute_returning(), whose callers pass SQL text
        cursor = conn.execute(sql, item.params)
        if item.fetch:
            item.rows = cursor.fetchall()
        item.rowcount = cursor.rowcount

    def _follow(self, mine: _Pending) -> None:
        try:
            mine.wake.acquire()  # released when our group committed, or when we must lead
        except BaseException:  # interrupted: never leave the others without a leader
            with self._queue_lock:
                must_lead = mine.lead and not mine.done
                if not mine.lead and not mine.done:
                    self._pending.remove(mine)
            if must_lead:
                mine.wake = None
                self._lead()
            raise
        if not mine.done:
            mine.wake = None  # leading now: our own group must not release it again
            self._lead()

    def _lead(self) -> None:
        """Commit every queued statement (up to MAX_GROUP), then pass the lead on."""
        with self._queue_lock:
            group = self._pending[:MAX_GROUP]
            del self._pending[:MAX_GROUP]
        try:
            with self._write_lock:
                self._commit_group(group)
        except QueueUnavailable as exc:
            for item in group:
                item.error = exc
        except BaseException as exc:  # e.g. KeyboardInterrupt: nobody may wait forever
            error = QueueUnavailable(f"SQLite store {self.path}: {exc!r}")
            for item in group:
                item.error = error
            raise
        finally:
            for item in group:
                item.done = True
                if item.wake is not None:
                    item.wake.release()
            with self._queue_lock:
                if self._pending:
                    following = self._pending[0]  # it waits on its lock: wake it to lead
                    following.lead = True
                    following.wake.release()
                else:
                    self._leading = False

    def _commit_group(self, group: list[_Pending]) -> None:
        conn = self._writer()
        if len(group) == 1:  # alone: autocommit, one call into SQLite
            item = group[0]
            try:
                self._retry_busy(lambda: self._run(conn, item))
            except QueueUnavailable as exc:
                item.error = exc
            return

        def attempt() -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for item in group:
                    item.error = None
                    try:
                        self._run(conn, item)
                    except sqlite3.Error as exc:
                        busy = isinstance(exc, sqlite3.OperationalError) and _is_busy(exc)
                        if busy or not conn.in_transaction:
                            raise  # the whole group again, or it fails together
                        # this statement only (a constraint, bad SQL): SQLite undid just it
                        item.error = QueueUnavailable(f"SQLite store {self.path}: {exc}")
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

        self._retry_busy(attempt)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction; 'database is locked' is retried, never surfaced raw."""
        self._check_fork()
        with self._write_lock:
            conn = self._writer()
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

    # ------------------------------------------------------------------ reads

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
        with self._write_lock:
            if self._writer_conn is not None and self._pid == os.getpid():
                try:
                    self._writer_conn.close()
                except sqlite3.Error:
                    pass
            self._writer_conn = None


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def _split(schema: str) -> list[str]:
    return [s.strip() for s in schema.split(";") if s.strip()]


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass
