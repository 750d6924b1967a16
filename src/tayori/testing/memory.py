"""An in-memory backend for tests: SQS semantics in a dict, nothing on disk.

It implements the same ``Backend`` protocol as the SQLite and AWS backends and passes
the same contract suite (``tests/contract``): limits and errors, visibility timeouts,
receive counts, redrive to the DLQ, delays. Blobs and idempotency records live in
dicts shared by everything the backend hands out. One process only.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    STATUS_CONSTANTS,
    DataRecord,
)

from tayori.backends.base import (
    Attributes,
    BaseQueue,
    BatchResult,
    EntryFailure,
    EntryResult,
    HandleEntry,
    QueueMessage,
    QueueSpec,
    QueueStats,
    SendEntry,
    check_blob_key,
    check_bucket_name,
    check_queue_name,
)
from tayori.errors import (
    BlobNotFound,
    MessageNotInflight,
    QueueDoesNotExist,
    ReceiptHandleIsInvalid,
)
from tayori.wire.sqs import md5_of_body


@dataclass
class _Stored:
    message_id: str
    body: str
    attributes: Attributes
    sent_at: float
    expires_at: float
    visible_at: float
    receive_count: int = 0
    first_receive_at: float | None = None
    receipt: str | None = None


class MemoryQueue(BaseQueue):
    """One queue of a :class:`MemoryBackend`; ``BaseQueue`` applies SQS's rules."""

    def __init__(self, backend: MemoryBackend, name: str) -> None:
        self._backend, self.name = backend, name
        self.arn = f"arn:aws:sqs:{backend.region}:000000000000:{name}"

    @property
    def _messages(self) -> dict[str, _Stored]:
        messages = self._backend._messages.get(self.name)
        if messages is None:
            raise QueueDoesNotExist(f"queue {self.name!r} does not exist")
        return messages

    def spec(self) -> QueueSpec:
        with self._backend._cond:
            spec = self._backend._specs.get(self.name)
        if spec is None:
            raise QueueDoesNotExist(f"queue {self.name!r} does not exist")
        self._spec = spec
        return spec

    # ------------------------------------------------------------------ storage

    def _send_batch(self, entries: Sequence[SendEntry]) -> BatchResult:
        spec = self.spec()
        now = time.time()
        ok: list[EntryResult] = []
        with self._backend._cond:
            messages = self._messages
            for e in entries:
                stored = _Stored(
                    message_id=str(uuid.uuid4()),
                    body=e.body,
                    attributes=dict(e.attributes),
                    sent_at=now,
                    expires_at=now + spec.retention_seconds,
                    visible_at=now + (e.delay_seconds or spec.delay_seconds),
                )
                messages[stored.message_id] = stored
                ok.append(EntryResult(e.id, stored.message_id))
            self._backend._cond.notify_all()
        self._backend._sent(self.name)
        return BatchResult(tuple(ok), ())

    def _receive(
        self, max_messages: int, wait_seconds: int, visibility_timeout: int | None
    ) -> list[QueueMessage]:
        deadline = time.monotonic() + wait_seconds
        with self._backend._cond:
            while True:
                out = self._receive_once(max_messages, visibility_timeout)
                remaining = deadline - time.monotonic()
                if out or remaining <= 0:
                    return out
                self._backend._cond.wait(min(remaining, 0.05))

    def _receive_once(
        self, max_messages: int, visibility_timeout: int | None
    ) -> list[QueueMessage]:
        spec = self.spec()
        vt = spec.visibility_timeout if visibility_timeout is None else visibility_timeout
        now = time.time()
        messages = self._messages
        out: list[QueueMessage] = []
        for m in sorted((m for m in messages.values() if m.visible_at <= now), key=_order):
            if len(out) == max_messages:
                break
            if m.expires_at <= now:
                del messages[m.message_id]
                continue
            redrive = spec.redrive
            if redrive is not None and m.receive_count >= redrive.max_receive_count:
                dlq = self._backend._messages.get(redrive.dead_letter_queue)
                dlq_spec = self._backend._specs.get(redrive.dead_letter_queue)
                if dlq is not None and dlq_spec is not None:
                    # keeps its message id; DLQ retention counts from the original enqueue
                    del messages[m.message_id]
                    m.visible_at, m.receipt = now, None
                    m.expires_at = m.sent_at + dlq_spec.retention_seconds
                    dlq[m.message_id] = m
                    continue
            m.receive_count += 1
            m.first_receive_at = m.first_receive_at or now
            m.receipt = f"{self.name}.{m.message_id}.{secrets.token_hex(8)}"
            m.visible_at = now + vt
            out.append(_message(m))
        return out

    def _find(self, receipt_handle: str) -> _Stored | None:
        parts = receipt_handle.split(".")
        stored = self._messages.get(parts[1]) if len(parts) == 3 else None
        return stored if stored is not None and stored.receipt == receipt_handle else None

    def _malformed(self, receipt_handle: str) -> bool:
        parts = receipt_handle.split(".")
        return len(parts) != 3 or parts[0] != self.name

    def _delete_batch(self, entries: Sequence[HandleEntry]) -> BatchResult:
        ok: list[EntryResult] = []
        failed: list[EntryFailure] = []
        with self._backend._cond:
            for e in entries:
                if self._malformed(e.receipt_handle):
                    failed.append(_invalid(e.id))
                    continue
                stored = self._find(e.receipt_handle)  # a stale handle deletes nothing
                if stored is not None:
                    del self._messages[stored.message_id]
                ok.append(EntryResult(e.id))
        return BatchResult(tuple(ok), tuple(failed))

    def _change_visibility_batch(self, entries: Sequence[HandleEntry]) -> BatchResult:
        ok: list[EntryResult] = []
        failed: list[EntryFailure] = []
        with self._backend._cond:
            now = time.time()
            for e in entries:
                stored = None if self._malformed(e.receipt_handle) else self._find(e.receipt_handle)
                if stored is None:
                    failed.append(_invalid(e.id))
                elif stored.visible_at <= now:
                    error = MessageNotInflight("message is not in flight")
                    failed.append(EntryFailure(e.id, error.code, str(error)))
                else:
                    stored.visible_at = now + e.visibility_timeout
                    ok.append(EntryResult(e.id))
            self._backend._cond.notify_all()
        return BatchResult(tuple(ok), tuple(failed))

    def _purge(self) -> None:
        with self._backend._cond:
            self._messages.clear()

    def stats(self) -> QueueStats:
        now = time.time()
        with self._backend._cond:
            live = [m for m in self._messages.values() if m.expires_at > now]
        return QueueStats(
            visible=sum(m.visible_at <= now for m in live),
            in_flight=sum(m.visible_at > now and m.receipt is not None for m in live),
            delayed=sum(m.visible_at > now and m.receipt is None for m in live),
        )

    # ------------------------------------------------------------------ inspection

    def peek(self) -> list[QueueMessage]:
        """Every message in the queue, oldest first, without receiving it (tests only)."""
        with self._backend._cond:
            return [_message(m) for m in sorted(self._messages.values(), key=_order)]

    def release_delayed(self) -> None:
        """Make delayed messages visible now (``drain(include_delayed=True)``)."""
        now = time.time()
        with self._backend._cond:
            for m in self._messages.values():
                if m.receipt is None and m.visible_at > now:
                    m.visible_at = now


class MemoryBlobStore:
    def __init__(self, blobs: dict[tuple[str, str], bytes], bucket: str) -> None:
        self.bucket = check_bucket_name(bucket)
        self._blobs = blobs

    def put(self, key: str, data: bytes) -> None:
        self._blobs[(self.bucket, check_blob_key(key))] = bytes(data)

    def get(self, key: str) -> bytes:
        try:
            return self._blobs[(self.bucket, check_blob_key(key))]
        except KeyError:
            raise BlobNotFound(f"blob {self.bucket}/{key} does not exist") from None

    def delete(self, key: str) -> None:
        self._blobs.pop((self.bucket, check_blob_key(key)), None)

    def keys(self) -> list[str]:
        return sorted(k for b, k in list(self._blobs) if b == self.bucket)


class MemoryPersistenceLayer(BasePersistenceLayer):
    """Powertools idempotency records in a dict; the lock is one check-and-set under a lock."""

    def __init__(self, records: dict[str, DataRecord], lock: threading.Lock) -> None:
        super().__init__()
        self._records, self._lock = records, lock

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with self._lock:
            record = self._records.get(idempotency_key)
        if record is None:
            raise IdempotencyItemNotFoundError
        return record

    def _put_record(self, data_record: DataRecord) -> None:
        now = time.time()
        with self._lock:
            old = self._records.get(data_record.idempotency_key)
            expired = old is not None and (old.expiry_timestamp or 0) < now
            stale = (
                old is not None
                and old.status == STATUS_CONSTANTS["INPROGRESS"]
                and old.in_progress_expiry_timestamp is not None
                and old.in_progress_expiry_timestamp < now * 1000
            )
            if old is not None and not expired and not stale:
                raise IdempotencyItemAlreadyExistsError(
                    f"idempotency key {data_record.idempotency_key} is already taken",
                    old_data_record=old,
                )
            self._records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        with self._lock:
            self._records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        with self._lock:
            self._records.pop(data_record.idempotency_key, None)


class MemoryBackend:
    """The ``Backend`` protocol in memory: ``tayori.App("shop", backend=MemoryBackend())``."""

    def __init__(self, *, bucket: str = "tayori", region: str = "local") -> None:
        self.region, self.default_bucket = region, bucket
        self._cond = threading.Condition(threading.RLock())
        self._specs: dict[str, QueueSpec] = {}
        self._messages: dict[str, dict[str, _Stored]] = {}
        self._blobs: dict[tuple[str, str], bytes] = {}
        self._records: dict[str, DataRecord] = {}
        self._records_lock = threading.Lock()
        self.on_send: Callable[[str], None] | None = None  # eager mode's hook

    def __repr__(self) -> str:
        return f"MemoryBackend(queues={sorted(self._specs)})"

    def _sent(self, queue_name: str) -> None:
        if self.on_send is not None:
            self.on_send(queue_name)

    def create_queue(self, name: str, spec: QueueSpec | None = None) -> MemoryQueue:
        check_queue_name(name)
        spec = spec or QueueSpec()
        with self._cond:
            if spec.redrive is not None and spec.redrive.dead_letter_queue not in self._specs:
                raise QueueDoesNotExist(
                    f"dead-letter queue {spec.redrive.dead_letter_queue!r} does not exist"
                )
            self._specs[name] = spec
            self._messages.setdefault(name, {})
        return MemoryQueue(self, name)

    def get_queue(self, name: str) -> MemoryQueue:
        check_queue_name(name)
        queue = MemoryQueue(self, name)
        queue.spec()
        return queue

    def list_queues(self) -> list[str]:
        with self._cond:
            return sorted(self._specs)

    def delete_queue(self, name: str) -> None:
        with self._cond:
            self._specs.pop(name, None)
            self._messages.pop(name, None)

    def blob_store(self, bucket: str | None = None) -> MemoryBlobStore:
        return MemoryBlobStore(self._blobs, bucket or self.default_bucket)

    def persistence_layer(self) -> MemoryPersistenceLayer:
        return MemoryPersistenceLayer(self._records, self._records_lock)

    def mail_store(self) -> Any:
        """A SQLite mail store in a temporary directory of this backend's own (outcomes
        need real upserts; nothing is written where the user works)."""
        if getattr(self, "_mail_store", None) is None:
            import tempfile

            from tayori.backends.sqlite.mail import SqliteMailStore

            self._mail_store = SqliteMailStore(tempfile.mkdtemp(prefix="tayori-memory-mail-"))
        return self._mail_store

    def rate_limiter(self, rate: float, burst: float = 1.0, name: str = "provider") -> Any:
        from tayori.backends.ratelimit import MemoryRateLimiter

        return MemoryRateLimiter(rate, burst, name)

    def check_resources(self, tables: object = (), queues: object = ()) -> None:
        """Nothing to check: everything lives in this process."""

    def close(self) -> None:
        pass


def _invalid(entry_id: str) -> EntryFailure:
    error = ReceiptHandleIsInvalid("receipt handle is not valid, stale or from another queue")
    return EntryFailure(entry_id, error.code, str(error))


def _order(m: _Stored) -> tuple[float, float]:
    return (m.visible_at, m.sent_at)


def _message(m: _Stored) -> QueueMessage:
    return QueueMessage(
        message_id=m.message_id,
        receipt_handle=m.receipt or "",
        body=m.body,
        attributes=dict(m.attributes),
        receive_count=m.receive_count,
        sent_timestamp_ms=int(m.sent_at * 1000),
        first_receive_timestamp_ms=int((m.first_receive_at or m.sent_at) * 1000),
        md5_of_body=md5_of_body(m.body),
    )
