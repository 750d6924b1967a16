"""Dead-letter queue operations that work on any backend: list, redrive, purge.

Redrive is receive -> send -> delete (new message ids, like StartMessageMoveTask),
so it runs the same on SQLite and on SQS (moto lacks the move-task API).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tayori.backends.base import MAX_BATCH_ENTRIES, HandleEntry, Queue, QueueMessage, SendEntry
from tayori.errors import QueueError
from tayori.wire.reasons import ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE

PEEK_VISIBILITY = 30


@dataclass(frozen=True, slots=True)
class DeadLetter:
    message_id: str
    error: str | None
    error_type: str | None
    receive_count: int
    sent_timestamp_ms: int
    body_preview: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "error": self.error,
            "error_type": self.error_type,
            "receive_count": self.receive_count,
            "sent_timestamp_ms": self.sent_timestamp_ms,
            "body_preview": self.body_preview,
        }


def _text(message: QueueMessage, name: str) -> str | None:
    attr = message.attributes.get(name)
    return None if attr is None else str(attr.value)


def peek(dlq: Queue, limit: int = 100) -> list[DeadLetter]:
    """Look at up to ``limit`` dead letters and hand them straight back."""
    seen: list[QueueMessage] = []
    ids: set[str] = set()
    while len(seen) < limit:
        batch = dlq.receive(min(MAX_BATCH_ENTRIES, limit - len(seen)), 0, PEEK_VISIBILITY)
        fresh = [m for m in batch if m.message_id not in ids]
        if not fresh:
            _release(dlq, batch)
            break
        ids.update(m.message_id for m in fresh)
        seen.extend(fresh)
        _release(dlq, [m for m in batch if m not in fresh])
    _release(dlq, seen)
    return [
        DeadLetter(
            m.message_id,
            _text(m, ERROR_ATTRIBUTE),
            _text(m, ERROR_TYPE_ATTRIBUTE),
            m.receive_count,
            m.sent_timestamp_ms,
            m.body[:200],
        )
        for m in seen
    ]


def _release(queue: Queue, messages: list[QueueMessage]) -> None:
    for i in range(0, len(messages), MAX_BATCH_ENTRIES):
        part = messages[i : i + MAX_BATCH_ENTRIES]
        queue.change_visibility_batch(
            [HandleEntry(str(n), m.receipt_handle, 0) for n, m in enumerate(part)]
        )


def redrive(
    dlq: Queue,
    target: Queue,
    *,
    max_per_second: float = 500.0,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Move dead letters back to ``target`` (reason attributes dropped); return the count.

    Each message is sent before it is deleted, so a crash in between duplicates a
    message (the idempotency key makes that harmless) and never loses one.
    """
    moved = 0
    started = time.monotonic()
    while limit is None or moved < limit:
        want = MAX_BATCH_ENTRIES if limit is None else min(MAX_BATCH_ENTRIES, limit - moved)
        batch = dlq.receive(want, 0, PEEK_VISIBILITY)
        if not batch:
            break
        entries = [
            SendEntry(
                str(n),
                m.body,
                {
                    k: v
                    for k, v in m.attributes.items()
                    if k not in (ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE)
                },
            )
            for n, m in enumerate(batch)
        ]
        result = target.send_batch(entries)
        sent = {r.id for r in result.successful}
        done = [
            HandleEntry(str(n), m.receipt_handle) for n, m in enumerate(batch) if str(n) in sent
        ]
        if done:
            dlq.delete_batch(done)
        if result.failed:
            _release(dlq, [m for n, m in enumerate(batch) if str(n) not in sent])
            failure = result.failed[0]
            raise QueueError(
                f"redrive stopped after {moved + len(done)} messages: "
                f"{failure.code}: {failure.message}"
            )
        moved += len(done)
        if progress:
            progress(moved)
        # pace like StartMessageMoveTask's MaxNumberOfMessagesPerSecond
        ahead = moved / max_per_second - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    return moved
