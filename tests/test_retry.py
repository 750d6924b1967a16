"""Retry decisions are pure: exception + receive count -> outcome and delay."""

from __future__ import annotations

import random

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from hypothesis import given
from hypothesis import strategies as st

from tayori.consumer.retry import Outcome, RetryPolicy
from tayori.consumer.retry import decide_retry as decide
from tayori.errors import MalformedMessage, PermanentError, RetryLater


def test_permanent_errors_dead_letter_on_first_attempt() -> None:
    d = decide(PermanentError("no such user"), 1, 5)
    assert d.outcome is Outcome.DEAD_LETTER and d.reason == "no such user"
    assert decide(MalformedMessage("x"), 1, None).outcome is Outcome.DEAD_LETTER


def test_retry_later_uses_the_asked_delay() -> None:
    d = decide(RetryLater(7.4, "throttled"), 1, 5)
    assert (d.outcome, d.delay_seconds, d.reason) == (Outcome.RETRY, 7, "throttled")


def test_last_attempt_dead_letters_with_the_count_in_the_reason() -> None:
    d = decide(ValueError("boom"), 5, 5)
    assert d.outcome is Outcome.DEAD_LETTER
    assert d.reason == "gave up after 5 attempts: boom" and d.error_type == "ValueError"


def test_in_progress_duplicate_is_never_dead_lettered() -> None:
    d = decide(IdempotencyAlreadyInProgressError("busy"), 99, 5)
    assert d.outcome is Outcome.RETRY and d.delay_seconds == RetryPolicy().in_progress_seconds


def test_without_redrive_policy_it_keeps_retrying() -> None:
    assert decide(ValueError("x"), 1000, None).outcome is Outcome.RETRY


@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=2**32))
def test_backoff_grows_and_stays_within_bounds(count: int, seed: int) -> None:
    policy = RetryPolicy(base_seconds=1, max_seconds=900)
    rng = random.Random(seed)
    delay = policy.backoff(count, rng)
    exp = min(900, 2 ** (count - 1))
    assert 1 <= delay <= 900
    assert exp / 2 - 1 <= delay <= exp + 1


def test_reason_is_one_line_and_bounded() -> None:
    d = decide(ValueError("line one\nline two " + "x" * 2000), 1, 5)
    assert "\n" not in d.reason and len(d.reason) <= 500
