"""Broadcast recovery: list a broadcast's failed recipients and re-send exactly those.

A failed recipient is an outcome row with status ``failed``: a ``PermanentError`` in
the send task (a template bug, a provider's hard refusal), or a send the handler gave up
on after ``maxReceiveCount`` attempts (transient errors every time; the send task's
``on_dead_letter`` records it). Its send message went to the
mail queue's DLQ with the reason, carrying everything needed to send it again (template,
context, the recipient's variables). ``retry_failed`` moves exactly those dead letters
back to the mail queue, so the re-send is the original send: same idempotency key, and
the send task skips anyone whose outcome is already ``sent``; a second copy to a
recipient already sent is never made. Failed recipients without a dead letter (an
invalid address refused at fan-out, or a purged DLQ) are reported, not guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tayori.backends.base import QueueMessage
from tayori.dlq_select import move_where
from tayori.errors import ConfigError, TayoriError
from tayori.mail.message import address_of
from tayori.wire.claimcheck import resolve
from tayori.wire.envelope import Envelope


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    recipient: str
    reason: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {"recipient": self.recipient, "reason": self.reason, "at": self.at}


@dataclass(slots=True)
class RetryResult:
    """What ``retry_failed`` did: ``requeued`` sends, and failed recipients it could not
    re-send because no dead letter holds their message."""

    requeued: int = 0
    failed: int = 0
    not_found: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"requeued": self.requeued, "failed": self.failed, "not_found": self.not_found}


def failed_recipients(store: Any, broadcast_id: str, limit: int = 1000) -> list[FailedRecipient]:
    """Up to ``limit`` failed recipients of one broadcast with their reasons."""
    own = getattr(store, "failed", None)
    if not callable(own):
        raise ConfigError(f"{type(store).__name__} cannot list failed recipients")
    return [_as_failed(row) for row in own(broadcast_id, limit)]


def _as_failed(row: Any) -> FailedRecipient:
    if isinstance(row, FailedRecipient):
        return row
    if isinstance(row, dict):
        return FailedRecipient(
            str(row.get("recipient", "")),
            str(row.get("reason", row.get("detail", ""))),
            float(row.get("at", 0.0)),
        )
    recipient, reason, *rest = row
    return FailedRecipient(str(recipient), str(reason), float(rest[0]) if rest else 0.0)


def retry_failed(
    store: Any,
    backend: Any,
    broadcast_id: str,
    *,
    queue: str = "mail",
    task: str = "mail.send",
    readable_buckets: frozenset[str] | None = None,
    limit: int = 100_000,
) -> RetryResult:
    """Move the dead-lettered sends of ``broadcast_id``'s failed recipients back to
    ``queue``. Safe to repeat: a recipient already sent is skipped by the send task."""
    failed = {f.recipient for f in failed_recipients(store, broadcast_id, limit)}
    result = RetryResult(failed=len(failed))
    if not failed:
        return result
    source = backend.get_queue(queue)
    redrive = source.spec().redrive
    if redrive is None:
        raise ConfigError(f"queue {queue!r} has no dead-letter queue to retry from")
    dlq = backend.get_queue(redrive.dead_letter_queue)
    buckets = readable_buckets or frozenset([backend.default_bucket])
    moved: set[str] = set()

    def choose(message: QueueMessage) -> bool:
        who = _recipient_of(message, backend, buckets, task, broadcast_id)
        if who in failed and who not in moved:  # a second dead copy stays where it is
            moved.add(who)
            return True
        return False

    result.requeued = move_where(dlq, source, choose, done=lambda: moved >= failed)
    result.not_found = sorted(failed - moved)
    return result


def _recipient_of(
    message: QueueMessage, backend: Any, buckets: frozenset[str], task: str, bid: str
) -> str | None:
    """The recipient a dead letter was sending to, when it is ``task`` of broadcast ``bid``."""
    try:
        body, _ = resolve(message.body, message.attributes, backend.blob_store, buckets)
        envelope = Envelope.parse(body)
    except (TayoriError, ValueError):
        return None
    payload = envelope.payload
    if envelope.task != task or not isinstance(payload, dict) or payload.get("bid") != bid:
        return None
    to = payload.get("to")
    return address_of(to) if isinstance(to, str) else None


def describe(result: RetryResult) -> str:
    """One line for people."""
    line = f"{result.requeued} of {result.failed} failed recipients re-queued"
    if result.not_found:
        some = ", ".join(result.not_found[:3])
        more = ", ..." if len(result.not_found) > 3 else ""
        line += f"; {len(result.not_found)} have no dead letter to retry ({some}{more})"
    return line
