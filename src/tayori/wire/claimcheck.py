"""Claim-check: bodies over the threshold live in a blob store; SQS carries a pointer.

Wire-compatible with amazon-sqs-extended-client (Python and Java): the pointer body is
``["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName", "s3Key"}]``
and the Number attribute ``ExtendedPayloadSize`` (legacy ``SQSLargePayloadSize``)
holds the original body's size in bytes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tayori.errors import (
    BlobNotFound,
    BucketNotAllowed,
    InvalidBlobKey,
    MalformedMessage,
    MissingBlob,
)
from tayori.wire.sqs import Attribute, Attributes, message_size

if TYPE_CHECKING:
    from tayori.backends.base import BlobStore

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
# written by the extended clients' use_legacy_attribute mode (Java 1.x lineage)
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
POINTER_CLASSES = (POINTER_CLASS, LEGACY_POINTER_CLASS)
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
RESERVED_ATTRIBUTES = (SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE)


@dataclass(frozen=True, slots=True)
class Pointer:
    bucket: str
    key: str

    def to_body(self) -> str:
        return json.dumps([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}])


def offload(
    body: str,
    attributes: Attributes,
    store: BlobStore,
    threshold: int,
    *,
    always: bool = False,
) -> tuple[str, dict[str, Attribute]]:
    """Return the body and attributes to send; store the body first when it is too big."""
    attrs = dict(attributes)
    if not always and message_size(body, attrs) <= threshold:
        return body, attrs
    raw = body.encode("utf-8")
    key = f"tayori/{uuid.uuid4()}"
    store.put(key, raw)
    attrs[SIZE_ATTRIBUTE] = Attribute.number(len(raw))
    return Pointer(store.bucket, key).to_body(), attrs


def parse_pointer(body: str, attributes: Attributes) -> Pointer | None:
    """The pointer in ``body``, or None for an ordinary message."""
    if not any(name in attributes for name in RESERVED_ATTRIBUTES) and not any(
        cls in body for cls in POINTER_CLASSES
    ):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        if any(name in attributes for name in RESERVED_ATTRIBUTES):
            raise MalformedMessage(
                "claim-check size attribute set but body is not a pointer"
            ) from None
        return None
    if not (isinstance(data, list) and len(data) == 2 and data[0] in POINTER_CLASSES):
        if any(name in attributes for name in RESERVED_ATTRIBUTES):
            raise MalformedMessage("claim-check size attribute set but body is not a pointer")
        return None
    ref = data[1]
    if not isinstance(ref, dict) or set(ref) != {"s3BucketName", "s3Key"}:
        raise MalformedMessage("claim-check pointer must hold exactly s3BucketName and s3Key")
    bucket, key = ref["s3BucketName"], ref["s3Key"]
    if not (isinstance(bucket, str) and bucket and isinstance(key, str) and key):
        raise MalformedMessage("claim-check pointer bucket and key must be non-empty strings")
    return Pointer(bucket, key)


def resolve(
    body: str,
    attributes: Attributes,
    stores: Callable[[str], BlobStore],
    allowed_buckets: frozenset[str],
) -> tuple[str, Pointer | None]:
    """Return the real body (and the pointer it came from, to delete after success)."""
    pointer = parse_pointer(body, attributes)
    if pointer is None:
        return body, None
    if pointer.bucket not in allowed_buckets:
        raise BucketNotAllowed(
            f"claim-check pointer names bucket {pointer.bucket!r}, not one this consumer reads"
        )
    try:
        raw = stores(pointer.bucket).get(pointer.key)
    except InvalidBlobKey as exc:
        raise MalformedMessage(f"claim-check pointer has an unsafe key: {exc}") from None
    except BlobNotFound:
        raise MissingBlob(
            f"claim-check blob {pointer.bucket}/{pointer.key} is missing (expired or deleted)"
        ) from None
    try:
        return raw.decode("utf-8"), pointer
    except UnicodeDecodeError:
        raise MalformedMessage(
            f"claim-check blob {pointer.bucket}/{pointer.key} is not UTF-8 text"
        ) from None


def strip_reserved(attributes: Attributes) -> dict[str, Attribute]:
    return {k: v for k, v in attributes.items() if k not in RESERVED_ATTRIBUTES}


class ClaimCheck:
    """The claim-check of one deployment: where big bodies go and which buckets it reads.

    ``stores`` opens the blob store of a bucket (the backend's ``blob_store``); stores
    are opened once per bucket and kept, like the clients of a warm Lambda.
    """

    def __init__(
        self,
        stores: Callable[[str], BlobStore],
        bucket: str,
        threshold: int,
        readable_buckets: frozenset[str],
    ) -> None:
        self._open = stores
        self._stores: dict[str, BlobStore] = {}
        self.bucket = bucket
        self.threshold = threshold
        self.readable_buckets = readable_buckets | {bucket}

    def store(self, bucket: str) -> BlobStore:
        store = self._stores.get(bucket)
        if store is None:
            store = self._stores.setdefault(bucket, self._open(bucket))
        return store

    def offload(
        self, body: str, attributes: Attributes, *, always: bool = False
    ) -> tuple[str, dict[str, Attribute]]:
        return offload(body, attributes, self.store(self.bucket), self.threshold, always=always)

    def resolve(self, body: str, attributes: Attributes) -> tuple[str, Pointer | None]:
        return resolve(body, attributes, self.store, self.readable_buckets)

    def delete(self, pointer: Pointer) -> None:
        """Best effort: a lifecycle rule expires what is left."""
        self.store(pointer.bucket).delete(pointer.key)
