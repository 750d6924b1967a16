"""Producer side: envelope -> codec -> size-aware batches -> queue, with retries.

A logical send keeps its envelope (and so its idempotency key) across the
producer's own retries; only entries SQS reports as failed are sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator

from tayori.backends.base import MAX_BATCH_ENTRIES, Queue, SendEntry
from tayori.errors import QueueError, QueueUnavailable, SendFailed
from tayori.wire.codec import Codec, Outgoing
from tayori.wire.envelope import Envelope

log = logging.getLogger("tayori.producer")

SEND_ATTEMPTS = 5
_TRANSIENT_CODES = {
    "ServiceUnavailable",
    "InternalError",
    "ThrottlingException",
    "RequestThrottled",
}


class Producer:
    """Encodes task calls and sends them, batched by count and bytes.

    Validation is the queue's (``BaseQueue``): the producer only sizes and groups.
    """

    def __init__(self, codec: Codec, queues: Callable[[str], Queue], max_batch_bytes: int) -> None:
        self.codec = codec
        self._queues = queues
        self.max_batch_bytes = max_batch_bytes

    def send(self, queue: str, envelope: Envelope, delay_seconds: int = 0) -> str:
        """One call: ``QueueUnavailable`` means the backend's own retries are exhausted."""
        return send_one(self._queues(queue), self.codec.encode(envelope, delay_seconds))

    def send_many(
        self, queue: str, envelopes: Iterable[Envelope], delay_seconds: int = 0
    ) -> list[str]:
        target = self._queues(queue)
        items = (self.codec.encode(env, delay_seconds) for env in envelopes)
        ids: list[str] = []
        for batch in batches(items, self.max_batch_bytes):
            ids.extend(send_batch(target, batch))
        return ids


def batches(items: Iterable[Outgoing], max_bytes: int) -> Iterator[list[Outgoing]]:
    """Group into batches of <= 10 entries and <= ``max_bytes``; never one over the limit."""
    batch: list[Outgoing] = []
    size = 0
    for item in items:
        item_size = item.size
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + item_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def send_batch(queue: Queue, batch: list[Outgoing]) -> list[str]:
    """Send one batch; retry transient failures of the whole call or of single entries."""
    pending = {str(i): item for i, item in enumerate(batch)}
    ids: dict[str, str] = {}
    errors: dict[int, tuple[str, str]] = {}
    for attempt in range(SEND_ATTEMPTS):
        entries = [SendEntry(k, v.body, v.attributes, v.delay_seconds) for k, v in pending.items()]
        try:
            result = queue.send_batch(entries)
        except QueueUnavailable as exc:
            # the backend already retried the call (botocore standard mode, SQLite busy
            # wait); retrying again here multiplied a total outage into minutes of blocking
            errors = {int(k): (exc.code, str(exc)) for k in pending}
            break
        for ok in result.successful:
            ids[ok.id] = ok.message_id or ""
            pending.pop(ok.id, None)
        errors = {}
        retry: dict[str, Outgoing] = {}
        for fail in result.failed:
            errors[int(fail.id)] = (fail.code, fail.message)
            if not fail.sender_fault or fail.code in _TRANSIENT_CODES:
                retry[fail.id] = pending[fail.id]
        if not result.failed:
            break
        if len(retry) < len(result.failed):  # a sender fault will not fix itself
            break
        pending = retry
        _pause(attempt)
    if errors:
        sent = [ids[k] for k in sorted(ids, key=int)]
        first = next(iter(errors.values()))
        raise SendFailed(
            f"{len(errors)} of {len(batch)} messages not enqueued to {queue.name}: "
            f"{first[0]}: {first[1]}",
            sent=sent,
            failed=errors,
        )
    return [ids[str(i)] for i in range(len(batch))]


def send_one(queue: Queue, item: Outgoing) -> str:
    """One call: ``QueueUnavailable`` means the backend's own retries are exhausted."""
    return queue.send(item.body, item.attributes, item.delay_seconds)


def _pause(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * 2**attempt))


__all__ = ["Outgoing", "Producer", "QueueError", "batches", "send_batch", "send_one"]
