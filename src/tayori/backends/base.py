"""The storage boundary: small protocols shaped like SQS and S3, nothing bigger.

Everything above ``backends/`` talks to these types only; the embedded (SQLite)
and the AWS backend implement them and pass one contract suite
(``tests/contract``). ``BaseQueue`` holds every SQS rule once (Powertools' pattern:
public methods validate, each backend implements a few small ``_`` methods), so the
backends cannot drift in what they refuse.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from tayori.backends.messages import (
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
from tayori.errors import ConfigError, InvalidBlobKey, QueueError, ReceiptHandleIsInvalid
from tayori.wire.sqs import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_RETENTION_SECONDS,
    DEFAULT_VISIBILITY_TIMEOUT,
    MAX_BATCH_ENTRIES,
    MAX_DELAY_SECONDS,
    MAX_RETENTION_SECONDS,
    MAX_VISIBILITY_TIMEOUT,
    MAX_WAIT_SECONDS,
    Attribute,
    Attributes,
    check_batch_ids,
    check_batch_size,
    check_message,
    check_queue_name,
    check_range,
    message_size,
)

# SQS's rules live in tayori.wire.sqs; re-exported for backends and their tests
__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_RETENTION_SECONDS",
    "DEFAULT_VISIBILITY_TIMEOUT",
    "MAX_BATCH_ENTRIES",
    "MAX_DELAY_SECONDS",
    "MAX_RETENTION_SECONDS",
    "MAX_VISIBILITY_TIMEOUT",
    "MAX_WAIT_SECONDS",
    "Attribute",
    "Attributes",
    "Backend",
    "BaseQueue",
    "BatchResult",
    "BlobStore",
    "EntryFailure",
    "EntryResult",
    "HandleEntry",
    "Queue",
    "QueueMessage",
    "QueueSpec",
    "QueueStats",
    "RedrivePolicy",
    "SendEntry",
    "check_blob_key",
    "check_bucket_name",
    "check_queue_name",
    "message_size",
]

MAX_BLOB_KEY_BYTES = 1024
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


# --------------------------------------------------------------------------- protocols


@runtime_checkable
class Queue(Protocol):
    """An SQS standard queue, cut down to what tayori uses."""

    name: str
    arn: str

    def send(
        self, body: str, attributes: Attributes | None = None, delay_seconds: int = 0
    ) -> str: ...

    def send_batch(self, entries: Sequence[SendEntry]) -> BatchResult: ...

    def receive(
        self,
        max_messages: int = 1,
        wait_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[QueueMessage]: ...

    def delete(self, receipt_handle: str) -> None: ...

    def delete_batch(self, entries: Sequence[HandleEntry]) -> BatchResult: ...

    def change_visibility(self, receipt_handle: str, visibility_timeout: int) -> None: ...

    def change_visibility_batch(self, entries: Sequence[HandleEntry]) -> BatchResult: ...

    def purge(self) -> None: ...

    def stats(self) -> QueueStats: ...

    def spec(self) -> QueueSpec: ...


class BaseQueue(ABC):
    """The validating half of every queue: SQS's rules here, storage in the subclass.

    A subclass implements ``spec`` / ``stats`` / ``_purge`` and the ``_`` methods below,
    which only ever see input SQS would accept. Batch entries that fail validation are
    reported per entry, as SQS does; the rest go to the backend in one call.
    """

    name: str
    arn: str
    _spec: QueueSpec | None = None

    # -------------------------------------------------------------- for subclasses

    @abstractmethod
    def spec(self) -> QueueSpec:
        """Read the queue's configuration (fresh) and cache it in ``self._spec``."""

    @abstractmethod
    def stats(self) -> QueueStats: ...

    @abstractmethod
    def _send_batch(self, entries: Sequence[SendEntry]) -> BatchResult: ...

    @abstractmethod
    def _receive(
        self, max_messages: int, wait_seconds: int, visibility_timeout: int | None
    ) -> list[QueueMessage]: ...

    @abstractmethod
    def _delete_batch(self, entries: Sequence[HandleEntry]) -> BatchResult: ...

    @abstractmethod
    def _change_visibility_batch(self, entries: Sequence[HandleEntry]) -> BatchResult: ...

    @abstractmethod
    def _purge(self) -> None: ...

    def _send(self, entry: SendEntry) -> str:
        return _single(self._send_batch([entry])).message_id or ""

    def _delete(self, receipt_handle: str) -> None:
        _single(self._delete_batch([HandleEntry("0", receipt_handle)]))

    def _change_visibility(self, receipt_handle: str, visibility_timeout: int) -> None:
        _single(
            self._change_visibility_batch([HandleEntry("0", receipt_handle, visibility_timeout)])
        )

    def _check_handle(self, receipt_handle: str) -> None:
        if not isinstance(receipt_handle, str) or not receipt_handle.strip():
            raise ReceiptHandleIsInvalid(
                f"receipt handle {str(receipt_handle)[:40]!r} is not valid"
            )

    def _limit(self) -> int:
        spec = self._spec if self._spec is not None else self.spec()
        return spec.max_message_size

    # -------------------------------------------------------------- public, validated

    def send(self, body: str, attributes: Attributes | None = None, delay_seconds: int = 0) -> str:
        """``delay_seconds=0`` (the default) means the queue's own DelaySeconds."""
        check_message(body, attributes, delay_seconds, self._limit())
        return self._send(SendEntry("0", body, attributes or {}, delay_seconds))

    def send_batch(self, entries: Sequence[SendEntry]) -> BatchResult:
        limit = self._limit()
        check_batch_ids([e.id for e in entries])
        sizes: list[int] = []  # each entry is sized once, by its own check

        def check(entry: SendEntry) -> None:
            try:
                sizes.append(
                    check_message(entry.body, entry.attributes, entry.delay_seconds, limit)
                )
            except QueueError:
                sizes.append(message_size(entry.body, entry.attributes))
                raise

        return self._per_entry(
            entries, check, self._send_batch, before=lambda: check_batch_size(sizes, limit)
        )

    def receive(
        self,
        max_messages: int = 1,
        wait_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[QueueMessage]:
        check_range("MaxNumberOfMessages", max_messages, 1, MAX_BATCH_ENTRIES)
        check_range("WaitTimeSeconds", wait_seconds, 0, MAX_WAIT_SECONDS)
        if visibility_timeout is not None:
            check_range("VisibilityTimeout", visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
        return self._receive(max_messages, wait_seconds, visibility_timeout)

    def delete(self, receipt_handle: str) -> None:
        """A stale handle succeeds (and may delete nothing), as SQS documents."""
        self._check_handle(receipt_handle)
        self._delete(receipt_handle)

    def delete_batch(self, entries: Sequence[HandleEntry]) -> BatchResult:
        check_batch_ids([e.id for e in entries])
        return self._per_entry(
            entries, lambda e: self._check_handle(e.receipt_handle), self._delete_batch
        )

    def change_visibility(self, receipt_handle: str, visibility_timeout: int) -> None:
        check_range("VisibilityTimeout", visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
        self._check_handle(receipt_handle)
        self._change_visibility(receipt_handle, visibility_timeout)

    def change_visibility_batch(self, entries: Sequence[HandleEntry]) -> BatchResult:
        check_batch_ids([e.id for e in entries])

        def check(entry: HandleEntry) -> None:
            check_range("VisibilityTimeout", entry.visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
            self._check_handle(entry.receipt_handle)

        return self._per_entry(entries, check, self._change_visibility_batch)

    def purge(self) -> None:
        self._purge()

    @staticmethod
    def _per_entry(
        entries: Sequence[Any], check: Any, call: Any, before: Any = None
    ) -> BatchResult:
        failed: list[EntryFailure] = []
        valid: list[Any] = []
        for entry in entries:
            try:
                check(entry)
            except QueueError as exc:
                failed.append(EntryFailure(entry.id, exc.code, str(exc)))
            else:
                valid.append(entry)
        if before is not None:  # a whole-request rule (the batch's total size)
            before()
        if not valid:
            return BatchResult((), tuple(failed))
        result = call(valid)
        pos = {e.id: i for i, e in enumerate(entries)}
        return BatchResult(
            tuple(sorted(result.successful, key=lambda r: pos.get(r.id, 0))),
            tuple(sorted([*failed, *result.failed], key=lambda f: pos.get(f.id, 0))),
        )


def _single(result: BatchResult) -> EntryResult:
    """The one entry of a one-entry batch call, or its failure raised as the SQS error."""
    if result.failed:
        from tayori.errors import error_for_code

        fail = result.failed[0]
        raise error_for_code(fail.code, fail.message)
    return result.successful[0]


@runtime_checkable
class BlobStore(Protocol):
    """One bucket of claim-check blobs."""

    bucket: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """Raise ``BlobNotFound`` when absent."""
        ...

    def delete(self, key: str) -> None:
        """Idempotent: deleting a missing blob is not an error."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Factory for one deployment's queues, blob stores and idempotency layers."""

    region: str
    default_bucket: str

    def create_queue(self, name: str, spec: QueueSpec | None = None) -> Queue: ...

    def get_queue(self, name: str) -> Queue:
        """Raise ``QueueDoesNotExist`` when absent."""
        ...

    def list_queues(self) -> list[str]: ...

    def delete_queue(self, name: str) -> None: ...

    def blob_store(self, bucket: str | None = None) -> BlobStore: ...

    def persistence_layer(self) -> BasePersistenceLayer:
        """A NEW layer each call: Powertools keeps the first configuration per instance."""
        ...

    def check_resources(self, tables: Sequence[str] = (), queues: Sequence[str] = ()) -> None:
        """Raise ``ResourcesMissing`` naming what is missing (and ``tayori setup``)."""
        ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- blob rules
# Shared by every blob store so that a key one backend refuses is refused by all.


def check_bucket_name(bucket: str) -> str:
    """S3 bucket naming rules (the subset tayori needs), for every blob store."""
    if not isinstance(bucket, str) or not _BUCKET.match(bucket) or ".." in bucket:
        raise ConfigError(f"invalid bucket name {bucket!r}: 3-63 of a-z 0-9 . -")
    return bucket


def check_blob_key(key: str) -> str:
    """Keys are relative paths of safe segments: no '..', no absolute paths, no NUL.

    Every blob store calls this before touching storage, so a key one backend refuses
    is refused by all of them (S3 itself would accept ``../x``; a file store must not).
    """
    if not isinstance(key, str) or not key or len(key.encode("utf-8")) > MAX_BLOB_KEY_BYTES:
        raise InvalidBlobKey(f"invalid blob key {str(key)[:60]!r}")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidBlobKey(f"invalid blob key {key[:60]!r}: must be a relative '/' path")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidBlobKey(f"invalid blob key {key[:60]!r}: empty, '.' or '..' segment")
    return key
