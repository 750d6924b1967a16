"""An SQS standard queue in SQLite: same limits, same errors, same receive semantics."""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

from tayori.backends.base import (
    MAX_BATCH_ENTRIES,
    BaseQueue,
    BatchResult,
    EntryFailure,
    EntryResult,
    HandleEntry,
    QueueMessage,
    QueueSpec,
    QueueStats,
    RedrivePolicy,
    SendEntry,
)
from tayori.backends.sqlite.db import Database
from tayori.errors import (
    MessageNotInflight,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueError,
    ReceiptHandleIsInvalid,
)
from tayori.wire.ids import uuid4s
from tayori.wire.sqs import Attribute, Attributes, md5_of_body

SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    visibility_timeout INTEGER NOT NULL,
    retention_seconds INTEGER NOT NULL,
    max_message_size INTEGER NOT NULL,
    dlq TEXT,
    max_receive_count INTEGER,
    created_at REAL NOT NULL,
    purged_at REAL,
    delay_seconds INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    attrs TEXT NOT NULL,
    md5 TEXT NOT NULL,
    sent_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive_at REAL,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue, visible_at);
"""

PURGE_INTERVAL_SECONDS = 60
_RECEIPT = re.compile(r"^(\d{1,19})\.([0-9a-f]{32})$")
_MISSING = object()


def upgrade(db: Database) -> None:
    """Bring a store made by an older tayori up to this schema (idempotent)."""
    with db.write() as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(queues)")}
        if "delay_seconds" not in columns:
            conn.execute("ALTER TABLE queues ADD COLUMN delay_seconds INTEGER NOT NULL DEFAULT 0")


def _encode_attrs(attributes: Attributes) -> str:
    out: dict[str, list[Any]] = {}
    for name, attr in attributes.items():
        if isinstance(attr.value, bytes):
            out[name] = [attr.data_type, base64.b64encode(attr.value).decode("ascii"), 1]
        else:
            out[name] = [attr.data_type, attr.value, 0]
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def _decode_attrs(raw: str) -> dict[str, Attribute]:
    return {
        name: Attribute(dt, base64.b64decode(value) if is_bin else value)
        for name, (dt, value, is_bin) in json.loads(raw).items()
    }


def _parse_receipt(receipt_handle: str) -> tuple[int, str]:
    match = _RECEIPT.match(receipt_handle) if isinstance(receipt_handle, str) else None
    if match is None:
        raise ReceiptHandleIsInvalid(f"receipt handle {str(receipt_handle)[:40]!r} is not valid")
    return int(match.group(1)), match.group(2)


@functools.cache
def _insert_sql(rows: int) -> str:
    """INSERT ... SELECT from the queue's row joined with ``rows`` VALUES tuples."""
    values = ",".join(["(?,?,?,?,?)"] * rows)
    # plain ? placeholders in text order (params: now 3 times, the rows, the queue name):
    # numbered ones bound from a sequence are an error from Python 3.14
    return (
        "INSERT INTO messages (queue, id, body, attrs, md5, sent_at, expires_at, visible_at) "
        "SELECT q.name, v.column1, v.column2, v.column3, v.column4, ?, "
        "? + q.retention_seconds, "
        "? + CASE WHEN v.column5 > 0 THEN v.column5 ELSE q.delay_seconds END "
        f"FROM queues AS q, (VALUES {values}) AS v WHERE q.name = ?"
    )


@functools.cache
def _taken_sql(rows: int) -> str:
    """The update of ``rows`` taken messages in one statement: each row's own receipt
    from ``CASE seq WHEN ? THEN ? ... END``. Built from the row count only."""
    cases = "CASE seq" + " WHEN ? THEN ?" * rows + " END"
    return (
        "UPDATE messages SET receive_count = receive_count + 1, visible_at = ?, "
        f"first_receive_at = COALESCE(first_receive_at, ?), receipt = {cases} "
        f"WHERE seq IN ({','.join('?' * rows)})"
    )


class _Together(threading.local):
    conn: sqlite3.Connection | None = None  # this thread's open send_batches transaction


class SqliteQueue(BaseQueue):
    """One named queue inside a :class:`~tayori.backends.sqlite.SqliteBackend` database."""

    def __init__(self, db: Database, name: str, region: str) -> None:
        self._db = db
        self._together = _Together()
        self.name = name
        self.arn = f"arn:aws:sqs:{region}:000000000000:{name}"
        self._spec: QueueSpec | None = None

    # ------------------------------------------------------------------ config

    def spec(self) -> QueueSpec:
        row = self._db.query_one(
            "SELECT visibility_timeout, retention_seconds, max_message_size, dlq, "
            "max_receive_count, delay_seconds FROM queues WHERE name = ?",
            (self.name,),
        )
        if row is None:
            raise QueueDoesNotExist(f"queue {self.name!r} does not exist")
        vt, retention, size, dlq, max_count, delay = row
        redrive = RedrivePolicy(dlq, max_count) if dlq else None
        self._spec = QueueSpec(vt, retention, size, delay_seconds=delay, redrive=redrive)
        return self._spec

    def _cached_spec(self) -> QueueSpec:
        return self._spec if self._spec is not None else self.spec()

    # ------------------------------------------------------------------ send

    def send_batches(self, batches: Sequence[Sequence[SendEntry]]) -> list[BatchResult]:
        """``send_batch`` of each, answered exactly as it answers, stored in ONE
        transaction: a producer's group of batches costs one commit, not one each (a
        commit is most of an autocommit insert's cost). All of it is stored, or, when
        this raises, none of it."""
        with self._db.write() as conn:
            self._together.conn = conn
            try:
                return [self.send_batch(batch) for batch in batches]
            finally:
                self._together.conn = None

    def _send(self, entry: SendEntry) -> str:
        return self._insert([(entry.body, entry.attributes, entry.delay_seconds)])[0]

    def _send_batch(self, entries: Sequence[SendEntry]) -> BatchResult:
        ids = self._insert([(e.body, e.attributes, e.delay_seconds) for e in entries])
        return BatchResult(
            tuple(EntryResult(e.id, mid) for e, mid in zip(entries, ids, strict=True))
        )

    def _insert(self, messages: list[tuple[str, Attributes | None, int]]) -> list[str]:
        """ONE autocommit statement for the whole batch (atomic, group-committed): the
        queue's row supplies retention and delay, and a deleted queue inserts nothing."""
        now = time.time()
        ids = uuid4s(len(messages))
        params: list[Any] = [now, now, now]
        for message_id, (body, attributes, delay) in zip(ids, messages, strict=True):
            attrs = _encode_attrs(attributes) if attributes else "{}"
            params += (message_id, body, attrs, md5_of_body(body), delay)
        params.append(self.name)
        conn = self._together.conn  # inside send_batches: its transaction
        if conn is None:
            inserted = self._db.execute(_insert_sql(len(messages)), params)
        else:
            inserted = conn.execute(_insert_sql(len(messages)), params).rowcount
        if inserted != len(messages):
            raise QueueDoesNotExist(f"queue {self.name!r} does not exist")
        return ids

    # ------------------------------------------------------------------ receive

    def _receive(
        self, max_messages: int, wait_seconds: int, visibility_timeout: int | None
    ) -> list[QueueMessage]:
        deadline = time.monotonic() + wait_seconds
        pause = 0.005
        while True:
            messages = self._receive_once(max_messages, visibility_timeout)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.1)

    def _receive_once(
        self, max_messages: int, visibility_timeout: int | None
    ) -> list[QueueMessage]:
        # An empty poll costs one read, not a write transaction: idle long-pollers in many
        # processes must not take turns on the write lock that senders need. The same read
        # brings the queue's settings (the redrive policy may have changed).
        row = self._db.query_one(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE queue = ? AND visible_at <= ?),"
            " visibility_timeout, retention_seconds, max_message_size, dlq, max_receive_count,"
            " delay_seconds FROM queues WHERE name = ?",
            (self.name, time.time(), self.name),
        )
        if row is None:
            raise QueueDoesNotExist(f"queue {self.name!r} does not exist")
        if not row[0]:
            return []
        vt, retention, size, dlq, max_count, delay = row[1:]
        redrive = RedrivePolicy(dlq, max_count) if dlq else None
        spec = self._spec = QueueSpec(vt, retention, size, delay_seconds=delay, redrive=redrive)
        vt = spec.visibility_timeout if visibility_timeout is None else visibility_timeout
        with self._db.write() as conn:
            return self._take(conn, spec, max_messages, vt)

    def _take(self, conn: Any, spec: QueueSpec, max_messages: int, vt: int) -> list[QueueMessage]:
        now = time.time()
        # Rows are stepped one by one (each step is one call into SQLite), and only until
        # enough are taken: expired or dead-lettered ones are skipped on the way.
        cursor = conn.execute(
            "SELECT seq, id, body, attrs, md5, sent_at, expires_at, receive_count, "
            "first_receive_at FROM messages WHERE queue = ? AND visible_at <= ? "
            "ORDER BY visible_at, seq",
            (self.name, now),
        )
        out: list[QueueMessage] = []
        dlq_retention: Any = _MISSING
        expired: list[tuple[int]] = []
        dead: list[tuple[Any, ...]] = []
        taken: list[tuple[int, str]] = []
        tokens = os.urandom(16 * max_messages).hex()  # one read for the batch's receipts
        redrive = spec.redrive
        for seq, mid, body, attrs, md5, sent_at, expires_at, count, first in cursor:
            if expires_at <= now:
                expired.append((seq,))
            elif redrive is not None and count >= redrive.max_receive_count:
                if dlq_retention is _MISSING:
                    dlq_retention = self._retention_of(conn, redrive.dead_letter_queue)
                if dlq_retention is None:  # the DLQ is gone: deliver it as SQS does
                    out.append(
                        self._taken(
                            taken, tokens, now, seq, mid, body, attrs, md5, sent_at, count, first
                        )
                    )
                else:
                    # keeps its message id; DLQ retention counts from the original enqueue
                    dead.append((redrive.dead_letter_queue, now, sent_at + dlq_retention, seq))
            else:
                out.append(
                    self._taken(
                        taken, tokens, now, seq, mid, body, attrs, md5, sent_at, count, first
                    )
                )
            if len(out) == max_messages or len(expired) + len(dead) >= 4 * MAX_BATCH_ENTRIES:
                break
        cursor.close()
        # one statement per kind of change, not one per message (fewer calls into SQLite)
        if expired:
            conn.executemany("DELETE FROM messages WHERE seq = ?", expired)
        if dead:
            conn.executemany(
                "UPDATE messages SET queue = ?, visible_at = ?, receipt = NULL, "
                "expires_at = ? WHERE seq = ?",
                dead,
            )
        if taken:
            pairs = [value for row in taken for value in row]
            conn.execute(
                _taken_sql(len(taken)), (now + vt, now, *pairs, *(seq for seq, _ in taken))
            )
        return out

    @staticmethod
    def _taken(
        taken: list[tuple[int, str]],
        tokens: str,
        now: float,
        seq: int,
        mid: str,
        body: str,
        attrs: str,
        md5: str,
        sent_at: float,
        count: int,
        first: float | None,
    ) -> QueueMessage:
        token = tokens[32 * len(taken) : 32 * len(taken) + 32]
        taken.append((seq, token))
        first = first if first is not None else now
        return QueueMessage(
            message_id=mid,
            receipt_handle=f"{seq}.{token}",
            body=body,
            attributes=_decode_attrs(attrs),
            receive_count=count + 1,
            sent_timestamp_ms=int(sent_at * 1000),
            first_receive_timestamp_ms=int(first * 1000),
            md5_of_body=md5,
        )

    @staticmethod
    def _retention_of(conn: Any, queue: str) -> int | None:
        row = conn.execute(
            "SELECT retention_seconds FROM queues WHERE name = ?", (queue,)
        ).fetchone()
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ delete / visibility

    def _check_handle(self, receipt_handle: str) -> None:
        _parse_receipt(receipt_handle)

    def _delete_batch(self, entries: Sequence[HandleEntry]) -> BatchResult:
        rows = [(*_parse_receipt(e.receipt_handle), self.name) for e in entries]
        with self._db.write() as conn:
            # a stale handle succeeds and deletes nothing, as SQS documents
            conn.executemany(
                "DELETE FROM messages WHERE seq = ? AND receipt = ? AND queue = ?", rows
            )
        return BatchResult(tuple(EntryResult(e.id) for e in entries), ())

    def _change_visibility(self, receipt_handle: str, visibility_timeout: int) -> None:
        seq, token = _parse_receipt(receipt_handle)
        with self._db.write() as conn:
            self._change_one(conn, seq, token, visibility_timeout)

    def _change_visibility_batch(self, entries: Sequence[HandleEntry]) -> BatchResult:
        ok: list[EntryResult] = []
        failed: list[EntryFailure] = []
        with self._db.write() as conn:
            for entry in entries:
                try:
                    seq, token = _parse_receipt(entry.receipt_handle)
                    self._change_one(conn, seq, token, entry.visibility_timeout)
                except QueueError as exc:
                    failed.append(EntryFailure(entry.id, exc.code, str(exc)))
                else:
                    ok.append(EntryResult(entry.id))
        return BatchResult(tuple(ok), tuple(failed))

    def _change_one(self, conn: Any, seq: int, token: str, visibility_timeout: int) -> None:
        now = time.time()
        row = conn.execute(
            "SELECT receipt, visible_at FROM messages WHERE seq = ? AND queue = ?",
            (seq, self.name),
        ).fetchone()
        if row is None or row[0] != token:
            raise ReceiptHandleIsInvalid("receipt handle is stale or belongs to another receive")
        if row[1] <= now:
            raise MessageNotInflight("message is not in flight (its visibility timeout ran out)")
        conn.execute(
            "UPDATE messages SET visible_at = ? WHERE seq = ?", (now + visibility_timeout, seq)
        )

    # ------------------------------------------------------------------ admin

    def _purge(self) -> None:
        with self._db.write() as conn:
            now = time.time()
            row = conn.execute(
                "SELECT purged_at FROM queues WHERE name = ?", (self.name,)
            ).fetchone()
            if row is None:
                raise QueueDoesNotExist(f"queue {self.name!r} does not exist")
            if row[0] is not None and now - row[0] < PURGE_INTERVAL_SECONDS:
                raise PurgeQueueInProgress(
                    f"queue {self.name!r} was purged less than 60 seconds ago"
                )
            conn.execute("DELETE FROM messages WHERE queue = ?", (self.name,))
            conn.execute("UPDATE queues SET purged_at = ? WHERE name = ?", (now, self.name))

    def stats(self) -> QueueStats:
        now = time.time()
        row = self._db.query_one(
            "SELECT "
            " COALESCE(SUM(visible_at <= ?), 0),"
            " COALESCE(SUM(visible_at > ? AND receipt IS NOT NULL), 0),"
            " COALESCE(SUM(visible_at > ? AND receipt IS NULL), 0)"
            " FROM messages WHERE queue = ? AND expires_at > ?",
            (now, now, now, self.name, now),
        )
        return QueueStats(visible=int(row[0]), in_flight=int(row[1]), delayed=int(row[2]))
