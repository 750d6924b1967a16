"""Due times, expiry and retry copies: what the message carries, acted on at receive.

SQS delays a message by at most 900 s. A call due later (``countdown=3600``,
``eta=tomorrow``) carries its due time in the envelope and is sent with the first hop
of the delay; each time it is received early the handler sends the same body on with
the remaining delay (at most 900 s) and reports this delivery done. Cost: one send +
one receive + one delete per 15 minutes of delay (a day is 96 hops, about 288 SQS
requests). A message past its ``expires`` is dropped with a log line and counted,
never run. A retry (``self.retry``, ``autoretry_for``) is a new copy of the message
with ``retries + 1`` and its own due time, so the count survives redrive.

The handler calls ``admit`` before running a task and ``retry`` when it raised
``Retry``; the clock is injectable (tests drive hours of hops in microseconds).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tayori.consumer.hooks import RecordInfo
from tayori.consumer.queues import QueueDirectory
from tayori.errors import ConfigError, RecordFailed, Retry
from tayori.wire.codec import Codec, Incoming
from tayori.wire.envelope import Envelope, parse_time, utc_iso
from tayori.wire.reasons import REASON_ATTRIBUTES
from tayori.wire.sqs import MAX_DELAY_SECONDS, Attributes

log = logging.getLogger("tayori.handler")

EARLY_TOLERANCE = 0.5  # run a message this close to its due time instead of one more hop


# ------------------------------------------------------------------ pure time rules


def to_datetime(value: Any, name: str) -> datetime:
    """A datetime (naive = UTC, Celery's default timezone) or an ISO-8601 string."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            pass
    raise ConfigError(f"{name} must be a datetime or an ISO-8601 string, got {value!r:.60}")


def due_time(now: datetime, countdown: float | None, eta: Any) -> datetime | None:
    """When a call is due; ``countdown`` wins over ``eta`` as in Celery."""
    if countdown is not None:
        if isinstance(countdown, bool) or not isinstance(countdown, int | float):
            raise ConfigError(f"countdown must be a number of seconds, got {countdown!r:.60}")
        return now + timedelta(seconds=max(0.0, float(countdown)))
    return None if eta is None else to_datetime(eta, "eta")


def expiry_time(now: datetime, expires: Any, default: float | None = None) -> datetime | None:
    """``expires`` as seconds from now or a datetime (Celery's two forms)."""
    if expires is None:
        expires = default
    if expires is None:
        return None
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        return now + timedelta(seconds=float(expires))
    return to_datetime(expires, "expires")


def hop_delay(remaining: float, hop: int = MAX_DELAY_SECONDS) -> int:
    """The DelaySeconds of the next hop towards a due time ``remaining`` seconds away."""
    return max(0, min(hop, math.ceil(remaining)))


# ------------------------------------------------------------------ at receive


class Scheduler:
    """The handler's due-time / expiry / retry-copy step (one per handler)."""

    def __init__(
        self,
        queues: QueueDirectory,
        codec: Codec,
        *,
        clock: Callable[[], float] = time.time,
        hop_seconds: int = MAX_DELAY_SECONDS,
    ) -> None:
        self.queues = queues
        self.codec = codec
        self.clock = clock
        self.hop_seconds = hop_seconds
        self.hops = 0  # not-yet-due messages sent on
        self.expired = 0  # dropped past their expires
        self.retried = 0  # retry copies sent
        self._lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def admit(
        self, incoming: Incoming, raw: dict[str, Any], info: RecordInfo, attributes: Attributes
    ) -> Envelope | None:
        """The envelope to run now (with this delivery's info), or None when this record
        is finished without running: expired (dropped) or not yet due (sent on)."""
        envelope = incoming.envelope
        if envelope.expires is None and envelope.eta is None:  # most messages: nothing to do
            return dataclasses.replace(envelope, delivery=_delivery(info))
        now = self.now()
        expires = envelope.expires_at
        if expires is not None and now >= expires:
            self._count("expired")
            log.warning(
                "message %s (task %s, id %s) expired at %s: dropped, not run",
                info.message_id,
                envelope.task,
                envelope.key,
                envelope.expires,
            )
            self._release(incoming, info)
            return None
        due = envelope.eta_at
        if due is not None:
            remaining = (due - now).total_seconds()
            if remaining > EARLY_TOLERANCE:
                self._send_on(raw, info, attributes, remaining)
                return None
        return dataclasses.replace(envelope, delivery=_delivery(info))

    def _send_on(
        self, raw: dict[str, Any], info: RecordInfo, attributes: Attributes, remaining: float
    ) -> None:
        """The same body (claim-check pointer included) on to the same queue, delayed by
        the next hop; a failed send fails the record, which then comes back as usual."""
        delay = hop_delay(remaining, self.hop_seconds)
        kept = {k: v for k, v in attributes.items() if k not in REASON_ATTRIBUTES}
        try:
            self.queues.queue(info.queue).send(raw["body"], kept, delay)
        except Exception as exc:
            raise RecordFailed(f"could not re-delay a message not yet due: {exc}") from None
        self._count("hops")
        log.info(
            "message %s not due for %.0fs: sent on with a %ss delay",
            info.message_id,
            remaining,
            delay,
        )

    def retry(self, incoming: Incoming, info: RecordInfo, signal: Retry) -> float:
        """Send the retry copy (``retries + 1``, new due time, same key); return its delay
        in seconds. ``RecordFailed`` if it cannot be sent (the original is then retried)."""
        envelope = incoming.envelope
        now = self.now()
        if isinstance(signal.when, int | float) and not isinstance(signal.when, bool):
            due = now + timedelta(seconds=max(0.0, float(signal.when)))
        else:
            due = to_datetime(signal.when, "retry eta")
        copy = dataclasses.replace(
            envelope,
            retries=envelope.retries + 1,
            eta=utc_iso(due),
            args=envelope.args if signal.args_override is None else signal.args_override,
            kwargs=envelope.kwargs if signal.kwargs_override is None else signal.kwargs_override,
            delivery=None,
        )
        remaining = (due - now).total_seconds()
        try:
            out = self.codec.encode(copy, hop_delay(remaining, self.hop_seconds))
            self.queues.queue(info.queue).send(out.body, out.attributes, out.delay_seconds)
        except Exception as exc:
            raise RecordFailed(f"could not send the retry of {envelope.task}: {exc}") from None
        self._count("retried")
        self._release(incoming, info)
        return remaining

    def _release(self, incoming: Incoming, info: RecordInfo) -> None:
        try:
            self.codec.release(incoming)
        except Exception as exc:  # lifecycle rules expire it anyway
            log.warning("could not clean up after message %s: %s", info.message_id, exc)


def _delivery(info: RecordInfo) -> dict[str, Any]:
    return {
        "delivery_info": {
            "exchange": "",
            "routing_key": info.queue,
            "priority": None,
            "redelivered": info.receive_count > 1,
        },
        "message_id": info.message_id,
        "receive_count": info.receive_count,
    }
