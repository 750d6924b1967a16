"""The DLQ browser's data and actions: look, fetch a claim-checked body, redrive, purge.

Looking is a receive with a short visibility timeout, handed straight back (SQS has no
other way to read a queue): it counts as a receive of each dead letter, as it does for
``tayori dlq list``. Redrive sends before it deletes (a crash in between duplicates a
message, which the idempotency key makes harmless, and never loses one) and drops the
reason attributes: "redrive all" is ``tayori dlq redrive`` itself, "redrive selected"
moves only the message ids the operator ticked (``tayori.dlq_select``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tayori import dlq as dlq_ops
from tayori.backends.base import Queue, QueueMessage
from tayori.dlq_select import move_where, release, scan
from tayori.errors import (
    BlobNotFound,
    ConfigError,
    InvalidBlobKey,
    MalformedMessage,
    TayoriError,
)
from tayori.wire.claimcheck import parse_pointer
from tayori.wire.envelope import Envelope
from tayori.wire.reasons import ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE

PREVIEW_CHARS = 300
BODY_CAP = 64 * 1024  # bytes of a claim-checked body shown on demand


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter as the browser shows it."""

    message_id: str
    task: str | None
    reason: str
    error_type: str | None
    receive_count: int
    first_seen: str | None  # when the producer sent it (envelope sent_at)
    last_seen: str  # when it entered the DLQ
    preview: str
    claim_check: bool

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}


def _iso_ms(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def _text(message: QueueMessage, name: str) -> str | None:
    attr = message.attributes.get(name)
    return None if attr is None else str(attr.value)


class DeadLetters:
    """Reads and acts on DLQs; remembers the claim-check pointers of the last listing so
    a body is fetched by message id only (the browser never names a bucket or key)."""

    def __init__(self, backend: Any, readable_buckets: frozenset[str]) -> None:
        self.backend = backend
        self.buckets = readable_buckets
        self._pointers: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def peek(self, dlq: Queue, limit: int = 100) -> list[Letter]:
        messages = [m for batch in scan(dlq, limit) for m in batch]
        release(dlq, messages)
        letters = []
        with self._lock:
            if len(self._pointers) > 10_000:  # keep memory bounded on a long-lived page
                self._pointers.clear()
            for m in messages:
                letter, pointer = self._letter(m)
                if pointer is not None:
                    self._pointers[m.message_id] = pointer
                letters.append(letter)
        return letters

    def _letter(self, m: QueueMessage) -> tuple[Letter, tuple[str, str] | None]:
        reason = _text(m, ERROR_ATTRIBUTE)
        if reason is None:
            reason = f"no reason recorded: moved after {m.receive_count} receives (maxReceiveCount)"
        pointer = None
        try:
            found = parse_pointer(m.body, m.attributes)
        except MalformedMessage:
            found = None
        task = first = None
        if found is not None:
            pointer = (found.bucket, found.key)
        else:
            try:
                envelope = Envelope.parse(m.body)
                task, first = envelope.task, envelope.sent_at or None
            except TayoriError:
                pass
        letter = Letter(
            message_id=m.message_id,
            task=task,
            reason=reason,
            error_type=_text(m, ERROR_TYPE_ATTRIBUTE),
            receive_count=m.receive_count,
            first_seen=first,
            last_seen=_iso_ms(m.sent_timestamp_ms),
            preview=m.body[:PREVIEW_CHARS],
            claim_check=pointer is not None,
        )
        return letter, pointer

    def body(self, message_id: str) -> tuple[str, bool]:
        """(text, truncated) of a claim-checked dead letter listed earlier."""
        with self._lock:
            pointer = self._pointers.get(message_id)
        if pointer is None:
            raise ConfigError("that message is not in the last listing: reload the list")
        bucket, key = pointer
        if bucket not in self.buckets:
            raise ConfigError(f"bucket {bucket!r} is not one this consumer reads")
        try:
            raw = self.backend.blob_store(bucket).get(key)
        except BlobNotFound:
            raise ConfigError(
                f"claim-check blob {bucket}/{key} is gone (expired or deleted)"
            ) from None
        except InvalidBlobKey as exc:
            raise ConfigError(f"unsafe claim-check key: {exc}") from None
        text = raw[:BODY_CAP].decode("utf-8", errors="replace")
        return text, len(raw) > BODY_CAP


def redrive(dlq: Queue, target: Queue, ids: set[str] | None = None) -> int:
    """Move dead letters back to ``target``: those in ``ids``, or all of them when None
    (``tayori dlq redrive``'s own function, paced like StartMessageMoveTask)."""
    if ids is None:
        return dlq_ops.redrive(dlq, target)
    found: set[str] = set()

    def choose(m: QueueMessage) -> bool:
        if m.message_id in ids:
            found.add(m.message_id)
            return True
        return False

    return move_where(dlq, target, choose, done=lambda: found >= ids)
