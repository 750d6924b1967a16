"""The storage boundary: small protocols shaped like SQS and S3, nothing bigger.

Everything above ``backends/`` talks to these types only; the embedded (SQLite)
and the AWS backend implement them and pass one contract suite
(``tests/contract``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from tayori.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    ConfigError,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidBlobKey,
    InvalidParameterValue,
    MessageTooLong,
    QueueNameInvalid,
    TooManyEntriesInBatchRequest,
)

# SQS limits (see shared REFERENCE.md)
MAX_BATCH_ENTRIES = 10
MAX_ATTRIBUTES = 10
MAX_DELAY_SECONDS = 900
MAX_WAIT_SECONDS = 20
MAX_VISIBILITY_TIMEOUT = 12 * 3600
DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_RETENTION_SECONDS = 4 * 24 * 3600
MIN_RETENTION_SECONDS = 60
MAX_RETENTION_SECONDS = 14 * 24 * 3600
DEFAULT_MAX_MESSAGE_SIZE = 262_144
MAX_MESSAGE_SIZE = 1_048_576
MAX_BLOB_KEY_BYTES = 1024

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_ATTR_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_ATTR_TYPE = re.compile(r"^(String|Number|Binary)(\.[A-Za-z0-9_.-]{1,200})?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True, slots=True)
class Attribute:
    """One SQS message attribute. ``data_type`` may carry a custom suffix (``String.json``)."""

    data_type: str
    value: str | bytes

    @classmethod
    def string(cls, value: str) -> Attribute:
        return cls("String", value)

    @classmethod
    def number(cls, value: int | float) -> Attribute:
        return cls("Number", str(value))

    @property
    def base_type(self) -> str:
        return self.data_type.split(".", 1)[0]

    def size(self, name: str) -> int:
        """Bytes SQS counts for this attribute: name + type + value."""
        raw = self.value if isinstance(self.value, bytes) else self.value.encode("utf-8")
        return len(name.encode("utf-8")) + len(self.data_type.encode("utf-8")) + len(raw)

    def to_lambda(self) -> dict[str, Any]:
        """The shape Lambda puts in ``record.messageAttributes``."""
        if self.base_type == "Binary":
            raw = self.value if isinstance(self.value, bytes) else self.value.encode()
            return {
                "binaryValue": base64.b64encode(raw).decode("ascii"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": self.data_type,
            }
        return {
            "stringValue": self.value,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": self.data_type,
        }

    @classmethod
    def from_lambda(cls, raw: Mapping[str, Any]) -> Attribute:
        data_type = str(raw.get("dataType") or raw.get("DataType") or "String")
        if data_type.split(".", 1)[0] == "Binary":
            value = raw.get("binaryValue") or raw.get("BinaryValue") or b""
            if isinstance(value, str):
                value = base64.b64decode(value)
            return cls(data_type, bytes(value))
        value = raw.get("stringValue", raw.get("StringValue"))
        return cls(data_type, "" if value is None else str(value))


Attributes = Mapping[str, Attribute]


def message_size(body: str, attributes: Attributes | None = None) -> int:
    """Size the way SQS (and the extended clients) count it: body UTF-8 bytes + attributes."""
    size = len(body.encode("utf-8"))
    for name, attr in (attributes or {}).items():
        size += attr.size(name)
    return size


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class SendEntry:
    """One entry of a batch send. ``id`` is unique within the batch."""

    id: str
    body: str
    attributes: Attributes = field(default_factory=dict)
    delay_seconds: int = 0


@dataclass(frozen=True, slots=True)
class EntryResult:
    """One succeeded entry of a batch call (``message_id`` is set for sends)."""

    id: str
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class EntryFailure:
    id: str
    code: str
    message: str
    sender_fault: bool = True


@dataclass(frozen=True, slots=True)
class BatchResult:
    successful: tuple[EntryResult, ...] = ()
    failed: tuple[EntryFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class HandleEntry:
    """One entry of delete-batch / change-visibility-batch."""

    id: str
    receipt_handle: str
    visibility_timeout: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    """A received message, as SQS hands it to a consumer."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: Attributes
    receive_count: int
    sent_timestamp_ms: int
    first_receive_timestamp_ms: int
    md5_of_body: str

    def to_lambda_record(self, queue_arn: str, region: str) -> dict[str, Any]:
        """The record shape the Lambda SQS event source mapping delivers."""
        return {
            "messageId": self.message_id,
            "receiptHandle": self.receipt_handle,
            "body": self.body,
            "attributes": {
                "ApproximateReceiveCount": str(self.receive_count),
                "SentTimestamp": str(self.sent_timestamp_ms),
                "SenderId": "tayori",
                "ApproximateFirstReceiveTimestamp": str(self.first_receive_timestamp_ms),
            },
            "messageAttributes": {k: v.to_lambda() for k, v in self.attributes.items()},
            "md5OfBody": self.md5_of_body,
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    dead_letter_queue: str
    max_receive_count: int


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """What a queue is created with (the embedded backend stores it; AWS maps it)."""

    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    retention_seconds: int = DEFAULT_RETENTION_SECONDS
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    delay_seconds: int = 0
    redrive: RedrivePolicy | None = None

    def __post_init__(self) -> None:
        check_range("VisibilityTimeout", self.visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
        check_range(
            "MessageRetentionPeriod",
            self.retention_seconds,
            MIN_RETENTION_SECONDS,
            MAX_RETENTION_SECONDS,
        )
        check_range("MaximumMessageSize", self.max_message_size, 1024, MAX_MESSAGE_SIZE)
        check_range("DelaySeconds", self.delay_seconds, 0, MAX_DELAY_SECONDS)
        if self.redrive is not None:
            check_queue_name(self.redrive.dead_letter_queue)
            check_range("maxReceiveCount", self.redrive.max_receive_count, 1, 1000)


@dataclass(frozen=True, slots=True)
class QueueStats:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


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
    ) -> list[Message]: ...

    def delete(self, receipt_handle: str) -> None: ...

    def delete_batch(self, entries: Sequence[HandleEntry]) -> BatchResult: ...

    def change_visibility(self, receipt_handle: str, visibility_timeout: int) -> None: ...

    def change_visibility_batch(self, entries: Sequence[HandleEntry]) -> BatchResult: ...

    def purge(self) -> None: ...

    def stats(self) -> QueueStats: ...

    def spec(self) -> QueueSpec: ...


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

    def close(self) -> None: ...


# --------------------------------------------------------------------------- validation
# Shared by every backend so that both refuse the same input with the same error.


def check_range(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidParameterValue(
            f"{name} must be an integer from {low} to {high}, got {value!r}"
        )


def check_queue_name(name: str) -> str:
    if not isinstance(name, str) or not _QUEUE_NAME.match(name):
        raise QueueNameInvalid(
            f"invalid queue name {name!r}: use 1-80 characters of A-Z a-z 0-9 _ - "
            "(FIFO queues are not supported)"
        )
    return name


def check_message(body: str, attributes: Attributes | None, delay_seconds: int, limit: int) -> int:
    """Validate one message the way SQS does; return its counted size."""
    if not isinstance(body, str) or body == "":
        raise InvalidParameterValue("message body must be a non-empty string")
    _check_body_chars(body)
    check_range("DelaySeconds", delay_seconds, 0, MAX_DELAY_SECONDS)
    attributes = attributes or {}
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidParameterValue(
            f"{len(attributes)} message attributes; SQS allows at most {MAX_ATTRIBUTES}"
        )
    for name, attr in attributes.items():
        if not _ATTR_NAME.match(name) or name.lower().startswith(("aws.", "amazon.")):
            raise InvalidParameterValue(f"invalid message attribute name {name!r}")
        if not isinstance(attr, Attribute) or not _ATTR_TYPE.match(attr.data_type):
            raise InvalidParameterValue(f"invalid data type for message attribute {name!r}")
        if attr.base_type == "Number":
            try:
                float(str(attr.value))
            except ValueError:
                raise InvalidParameterValue(
                    f"message attribute {name!r} is Number but {attr.value!r} is not a number"
                ) from None
        if attr.value in ("", b""):
            raise InvalidParameterValue(f"message attribute {name!r} has an empty value")
    size = message_size(body, attributes)
    if size > limit:
        raise MessageTooLong(
            f"message of {size} bytes (body + attributes) is over the queue limit of {limit} bytes"
        )
    return size


# SQS allows #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF
# (written as the refused set: a negated class over all of Unicode takes ~7 ms to compile)
_REFUSED_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _check_body_chars(body: str) -> None:
    bad = _REFUSED_CHAR.search(body)
    if bad is not None:
        raise InvalidParameterValue(
            f"message body contains a character SQS refuses: U+{ord(bad.group()):04X}"
        )


def check_batch_ids(ids: Sequence[str]) -> None:
    if not ids:
        raise EmptyBatchRequest("a batch request needs at least one entry")
    if len(ids) > MAX_BATCH_ENTRIES:
        raise TooManyEntriesInBatchRequest(
            f"{len(ids)} entries in one batch; SQS allows at most {MAX_BATCH_ENTRIES}"
        )
    for entry_id in ids:
        if not isinstance(entry_id, str) or not _ENTRY_ID.match(entry_id):
            raise InvalidBatchEntryId(f"invalid batch entry id {entry_id!r}")
    if len(set(ids)) != len(ids):
        raise BatchEntryIdsNotDistinct("batch entry ids must be unique within a batch")


def check_send_batch(entries: Sequence[SendEntry], limit: int) -> None:
    """Batch-level checks; per-entry problems are reported per entry by the backend."""
    check_batch_ids([e.id for e in entries])
    total = sum(message_size(e.body, e.attributes) for e in entries)
    if total > limit:
        raise BatchRequestTooLong(
            f"batch of {total} bytes is over the limit of {limit} bytes for one request"
        )


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
