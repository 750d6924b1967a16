"""Pure retry decisions: from an exception and a receive count to what happens next.

No I/O here, so every rule is unit-tested without a queue.

Two budgets: a task's own failure backs off from ``base_seconds``; an infrastructure
failure (idempotency table or bucket missing or throttled, endpoint unreachable,
access denied) is not the message's fault and backs off from ``outage_base_seconds``
with jitter on top, so that the receives SQS allows before its DLQ span a long outage:
with the defaults, 60 + 120 + 240 + 480 s = 15 min before the 5th receive.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from enum import Enum

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)

from tayori.errors import (
    BlobError,
    BlobNotFound,
    ConfigError,
    InfrastructureError,
    InvalidBlobKey,
    PermanentError,
    QueueUnavailable,
    RetryLater,
)
from tayori.wire.reasons import describe, error_type
from tayori.wire.sqs import MAX_VISIBILITY_TIMEOUT


class Outcome(Enum):
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class RetryDecision:
    outcome: Outcome
    reason: str
    error_type: str
    delay_seconds: int | None = None  # None: leave the visibility timeout as it is
    infrastructure: bool = False  # a dependency failed, not the message


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff of one queue or task. Every delay is a visibility timeout (<= 12 h)."""

    base_seconds: float = 1.0
    max_seconds: int = 900
    in_progress_seconds: int = 2
    outage_base_seconds: float = 60.0
    outage_max_seconds: int = 900
    outage_jitter: float = 0.25

    def backoff(self, receive_count: int, rng: random.Random | None = None) -> int:
        """Exponential with equal jitter: half fixed, half random, capped."""
        exp = min(self.max_seconds, self.base_seconds * 2 ** max(0, receive_count - 1))
        jitter = (rng or random).uniform(0, exp / 2)
        return max(1, min(self.max_seconds, round(exp / 2 + jitter)))

    def outage_backoff(self, receive_count: int, rng: random.Random | None = None) -> int:
        """Exponential from ``outage_base_seconds`` with jitter ON TOP (never shorter), so
        the outage budget is a floor; retries of many messages still spread out."""
        exp = min(
            self.outage_max_seconds, self.outage_base_seconds * 2 ** max(0, receive_count - 1)
        )
        delay = exp * (1 + (rng or random).uniform(0, self.outage_jitter))
        return max(1, min(MAX_VISIBILITY_TIMEOUT, round(delay)))

    def outage_budget(self, max_receive_count: int) -> int:
        """Seconds of outage the receives before the DLQ ride out, at the least."""
        return sum(
            min(self.outage_max_seconds, round(self.outage_base_seconds * 2**k))
            for k in range(max(0, max_receive_count - 1))
        )


def is_infrastructure(exc: BaseException) -> bool:
    """A failure of what the message needs (stores, queues, credentials), not of the
    message or its task."""
    if isinstance(exc, BlobError):
        return not isinstance(exc, BlobNotFound | InvalidBlobKey)
    if isinstance(
        exc,
        InfrastructureError | IdempotencyPersistenceLayerError | QueueUnavailable | ConfigError,
    ):
        return True
    # the embedded store's errors; not imported for it: a Lambda cold start never loads
    # sqlite3, and an sqlite3.Error exists only once it is loaded
    sqlite = sys.modules.get("_sqlite3")
    if sqlite is not None and isinstance(exc, sqlite.Error):
        return True
    return type(exc).__module__.split(".", 1)[0] in ("botocore", "boto3", "urllib3")


def describe_infrastructure(exc: BaseException) -> str:
    """The reason with its cause: Powertools wraps the store's own error."""
    reason = describe(exc)
    cause = exc.__cause__
    if cause is not None and describe(cause) not in reason:
        reason = f"{reason}: {error_type(cause)}: {describe(cause)}"
    return reason[:500]


def decide_retry(
    exc: BaseException,
    receive_count: int,
    max_receive_count: int | None,
    policy: RetryPolicy = RetryPolicy(),
    rng: random.Random | None = None,
) -> RetryDecision:
    name = error_type(exc)
    if isinstance(exc, PermanentError):
        return RetryDecision(Outcome.DEAD_LETTER, describe(exc), name)
    if isinstance(exc, IdempotencyAlreadyInProgressError):
        # another execution holds the lock: come back soon, never dead-letter for it
        return RetryDecision(
            Outcome.RETRY, "same key in progress elsewhere", name, policy.in_progress_seconds
        )
    infrastructure = is_infrastructure(exc)
    reason = describe_infrastructure(exc) if infrastructure else describe(exc)
    if max_receive_count is not None and receive_count >= max_receive_count:
        return RetryDecision(
            Outcome.DEAD_LETTER,
            f"gave up after {receive_count} attempts: {reason}",
            name,
            infrastructure=infrastructure,
        )
    if infrastructure:
        delay = policy.outage_backoff(receive_count, rng)
        return RetryDecision(Outcome.RETRY, reason, name, delay, infrastructure=True)
    if isinstance(exc, RetryLater):
        return RetryDecision(
            Outcome.RETRY, reason, name, min(MAX_VISIBILITY_TIMEOUT, round(exc.seconds))
        )
    return RetryDecision(Outcome.RETRY, reason, name, policy.backoff(receive_count, rng))
