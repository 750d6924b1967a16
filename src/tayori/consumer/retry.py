"""Pure retry decisions: from an exception and a receive count to what happens next.

No I/O here, so every rule is unit-tested without a queue.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from tayori.errors import PermanentError, RetryLater
from tayori.wire.reasons import describe, error_type


class Outcome(Enum):
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class RetryDecision:
    outcome: Outcome
    reason: str
    error_type: str
    delay_seconds: int | None = None  # None: leave the visibility timeout as it is


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 1.0
    max_seconds: int = 900
    in_progress_seconds: int = 2

    def backoff(self, receive_count: int, rng: random.Random | None = None) -> int:
        """Exponential with equal jitter: half fixed, half random, capped."""
        exp = min(self.max_seconds, self.base_seconds * 2 ** max(0, receive_count - 1))
        jitter = (rng or random).uniform(0, exp / 2)
        return max(1, min(self.max_seconds, round(exp / 2 + jitter)))


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
    if max_receive_count is not None and receive_count >= max_receive_count:
        return RetryDecision(
            Outcome.DEAD_LETTER,
            f"gave up after {receive_count} attempts: {describe(exc)}",
            name,
        )
    if isinstance(exc, RetryLater):
        return RetryDecision(Outcome.RETRY, describe(exc), name, min(43_200, round(exc.seconds)))
    return RetryDecision(Outcome.RETRY, describe(exc), name, policy.backoff(receive_count, rng))
