"""Producer side: envelope -> codec -> size-aware batches -> queue, with retries.

A logical send keeps its envelope (and so its idempotency key) across the
producer's own retries; only entries SQS reports as failed are sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from tayori.backends.base import MAX_BATCH_ENTRIES, BatchResult, Queue, SendEntry
from tayori.errors import QueueError, QueueUnavailable, SendFailed
from tayori.wire.codec import Codec, Outgoing
from tayori.wire.envelope import Envelope

log = logging.getLogger("tayori.producer")

SEND_ATTEMPTS = 5
GROUP_BATCHES = 100  # batches one backend call may store together (1,000 messages)
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
        """Every envelope, in batches; groups of batches go to the backend together where
        it can store them in one transaction. ``SendFailed`` (after the group that had a
        failure) lists every id that went and the index of every envelope that did not."""
        target = self._queues(queue)
        items = (self.codec.encode(env, delay_seconds) for env in envelopes)
        ids: list[str] = []
        failed: dict[int, tuple[str, str]] = {}
        position = 0
        for group in _groups(batches(items, self.max_batch_bytes), GROUP_BATCHES):
            for batch, first in zip(group, _store_together(target, group), strict=True):
                try:
                    ids.extend(send_batch(target, batch, first))
                except SendFailed as exc:
                    ids.extend(exc.sent)
                    failed.update({position + i: error for i, error in exc.failed.items()})
                position += len(batch)
            if failed:
                code, message = next(iter(failed.values()))
                raise SendFailed(
                    f"{len(failed)} of {position} messages not enqueued to {target.name}: "
                    f"{code}: {message}",
                    sent=ids,
                    failed=failed,
                )
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


def _groups(items: Iterator[list[Outgoing]], size: int) -> Iterator[list[list[Outgoing]]]:
    while group := list(islice(items, size)):
        yield group


def _pending(batch: list[Outgoing]) -> dict[str, Outgoing]:
    """A batch's entries by entry id (its position), as every send of it names them."""
    return {str(i): item for i, item in enumerate(batch)}


def _entries(pending: dict[str, Outgoing]) -> list[SendEntry]:
    return [SendEntry(k, v.body, v.attributes, v.delay_seconds) for k, v in pending.items()]


def _store_together(queue: Queue, group: list[list[Outgoing]]) -> list[BatchResult | None]:
    """Each batch's first answer from ONE backend call where the backend has one
    (``send_batches``: SQLite stores the group in one transaction, one commit instead of
    one per batch). ``None`` each otherwise, or when that call failed as a whole: then
    nothing of it was stored, and every batch is sent on its own, with its own retries."""
    together = getattr(queue, "send_batches", None)
    if together is None or len(group) < 2:
        return [None] * len(group)
    try:
        return list(together([_entries(_pending(batch)) for batch in group]))
    except QueueError as exc:
        log.info("group send to %s failed as a whole (%s); batch by batch", queue.name, exc)
        return [None] * len(group)


def send_batch(queue: Queue, batch: list[Outgoing], first: BatchResult | None = None) -> list[str]:
    """Send one batch; retry transient failures of the whole call or of single entries.
    ``first``: the answer to a first attempt already made (``_store_together``)."""
    pending = _pending(batch)
    ids: dict[str, str] = {}
    errors: dict[int, tuple[str, str]] = {}
    for attempt in range(SEND_ATTEMPTS):
        try:
            result = first if first is not None else queue.send_batch(_entries(pending))
            first = None
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
