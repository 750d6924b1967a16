"""SQS's message rules, in one place: limits, attribute types, sizes, which input it refuses.

Every backend's queue validates through these (``backends.base.BaseQueue``), so the
embedded and the AWS backend refuse the same input with the same error, and the codec
sizes messages the way SQS and the extended clients count them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tayori.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
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
MIN_MESSAGE_SIZE_LIMIT = 1024
DEFAULT_MAX_MESSAGE_SIZE = 262_144
MAX_MESSAGE_SIZE = 1_048_576
MAX_RECEIVE_COUNT = 1000

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_ATTR_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_ATTR_TYPE = re.compile(r"^(String|Number|Binary)(\.[A-Za-z0-9_.-]{1,200})?$")

# SQS allows #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF in
# bodies AND string attribute values (written as the refused set: a negated class over all
# of Unicode takes ~7 ms to compile)
REFUSED_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


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
    _check_chars(body, "message body")
    check_range("DelaySeconds", delay_seconds, 0, MAX_DELAY_SECONDS)
    attributes = attributes or {}
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidParameterValue(
            f"{len(attributes)} message attributes; SQS allows at most {MAX_ATTRIBUTES}"
        )
    for name, attr in attributes.items():
        check_attribute(name, attr)
    size = message_size(body, attributes)
    if size > limit:
        raise MessageTooLong(
            f"message of {size} bytes (body + attributes) is over the queue limit of {limit} bytes"
        )
    return size


def check_attribute(name: str, attr: Attribute) -> None:
    if not isinstance(name, str) or not _ATTR_NAME.match(name):
        raise InvalidParameterValue(f"invalid message attribute name {name!r}")
    if name.lower().startswith(("aws.", "amazon.")):
        raise InvalidParameterValue(f"invalid message attribute name {name!r}")
    if not isinstance(attr, Attribute) or not _ATTR_TYPE.match(attr.data_type):
        raise InvalidParameterValue(f"invalid data type for message attribute {name!r}")
    if attr.value in ("", b""):
        raise InvalidParameterValue(f"message attribute {name!r} has an empty value")
    if attr.base_type == "Binary":
        return
    if not isinstance(attr.value, str):
        raise InvalidParameterValue(f"message attribute {name!r} must have a string value")
    _check_chars(attr.value, f"message attribute {name!r}")
    if attr.base_type == "Number":
        try:
            float(attr.value)
        except ValueError:
            raise InvalidParameterValue(
                f"message attribute {name!r} is Number but {attr.value!r} is not a number"
            ) from None


def _check_chars(text: str, what: str) -> None:
    bad = REFUSED_CHAR.search(text)
    if bad is not None:
        raise InvalidParameterValue(
            f"{what} contains a character SQS refuses: U+{ord(bad.group()):04X}"
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


def check_batch_size(sizes: Sequence[int], limit: int) -> None:
    total = sum(sizes)
    if total > limit:
        raise BatchRequestTooLong(
            f"batch of {total} bytes is over the limit of {limit} bytes for one request"
        )
