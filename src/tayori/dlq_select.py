"""Dead letters chosen one by one: scan a DLQ once, move the chosen ones, hand back the rest.

``tayori.dlq`` moves a DLQ's messages in bulk; the dashboard's "redrive selected" and
broadcast recovery's "retry failed" move only the messages a predicate picks. Scanning is
receive with a short visibility timeout (it counts as a receive, as on SQS). An empty
short poll is tried once more as a 1 s long poll while the queue reports messages not yet
seen: an SQS short poll samples only some servers and can come back empty early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from tayori.backends.base import MAX_BATCH_ENTRIES, HandleEntry, Queue, QueueMessage, SendEntry
from tayori.errors import QueueError
from tayori.wire.reasons import ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE

PEEK_VISIBILITY = 30
SCAN_LIMIT = 100_000


def scan(dlq: Queue, limit: int = SCAN_LIMIT) -> Iterator[list[QueueMessage]]:
    """Every message of ``dlq`` once (up to ``limit``), batch by batch. Each stays
    invisible for ``PEEK_VISIBILITY`` s: the caller moves it or hands it back."""
    seen: set[str] = set()
    expected = min(limit, dlq.stats().visible)
    waited = False
    while len(seen) < limit:
        want = min(MAX_BATCH_ENTRIES, limit - len(seen))
        batch = dlq.receive(want, 0, PEEK_VISIBILITY)
        if not batch and len(seen) < expected and not waited:
            waited = True
            batch = dlq.receive(want, 1, PEEK_VISIBILITY)
        fresh = [m for m in batch if m.message_id not in seen]
        release(dlq, [m for m in batch if m.message_id in seen])  # seen twice: a slow scan
        if not fresh:
            return
        seen.update(m.message_id for m in fresh)
        yield fresh


def move_where(
    dlq: Queue,
    target: Queue,
    choose: Callable[[QueueMessage], bool],
    *,
    limit: int = SCAN_LIMIT,
    done: Callable[[], bool] | None = None,
) -> int:
    """Move the messages ``choose`` picks back to ``target``; return how many moved.
    ``done()`` true ends the scan early (every wanted message found)."""
    moved = 0
    held: list[QueueMessage] = []
    try:
        for batch in scan(dlq, limit):
            chosen = [m for m in batch if choose(m)]
            held.extend(m for m in batch if m not in chosen)
            if chosen:
                moved += move(dlq, target, chosen)
            if done is not None and done():
                break
    finally:
        release(dlq, held)
    return moved


def move(dlq: Queue, target: Queue, messages: list[QueueMessage]) -> int:
    """Send ``messages`` (reason attributes dropped) to ``target``, then delete them from
    ``dlq``: a crash in between duplicates (the idempotency key makes it harmless), never
    loses. Messages that could not be sent are handed back to the DLQ."""
    reasons = (ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE)
    entries = [
        SendEntry(str(n), m.body, {k: v for k, v in m.attributes.items() if k not in reasons})
        for n, m in enumerate(messages)
    ]
    result = target.send_batch(entries)
    sent = {r.id for r in result.successful}
    done = [HandleEntry(str(n), m.receipt_handle) for n, m in enumerate(messages) if str(n) in sent]
    if done:
        dlq.delete_batch(done)
    if result.failed:
        release(dlq, [m for n, m in enumerate(messages) if str(n) not in sent])
        failure = result.failed[0]
        raise QueueError(f"move stopped after {len(done)}: {failure.code}: {failure.message}")
    return len(done)


def release(queue: Queue, messages: list[QueueMessage]) -> None:
    """Make received messages visible again at once."""
    for i in range(0, len(messages), MAX_BATCH_ENTRIES):
        part = messages[i : i + MAX_BATCH_ENTRIES]
        queue.change_visibility_batch(
            [HandleEntry(str(n), m.receipt_handle, 0) for n, m in enumerate(part)]
        )
