"""Idempotency contract: each backend's Powertools persistence layer keeps the
guarantees of the DynamoDB layer (one conditional write takes the lock)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from tayori.backends.base import Backend

pytestmark = pytest.mark.filterwarnings("ignore:Couldn.t determine the remaining time")


class FakeLambdaContext:
    """Just enough of a Lambda context for Powertools' in-progress expiry."""

    function_name = "tayori-test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:tayori-test"
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Crash(BaseException):
    """Stands for the process dying mid-task: Powertools only cleans up on Exception."""


def new_key() -> str:
    return f"order-{uuid.uuid4()}"


def test_layer_is_a_powertools_persistence_layer(backend: Backend) -> None:
    first, second = backend.persistence_layer(), backend.persistence_layer()
    assert isinstance(first, BasePersistenceLayer)
    assert first is not second  # one instance per decorated function


def test_runs_once_per_key_and_returns_the_stored_result(
    persistence_layer: BasePersistenceLayer,
) -> None:
    calls: list[str] = []

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=persistence_layer,
        config=IdempotencyConfig(event_key_jmespath="order_id"),
    )
    def notify(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(payload["order_id"])
        return {"sent": payload["order_id"], "n": len(calls)}

    key, other = new_key(), new_key()
    first = notify(payload={"order_id": key, "extra": 1})
    assert first == {"sent": key, "n": 1}
    # same key (other fields differ: only the JMESPath result counts) -> stored result
    assert notify(payload={"order_id": key, "extra": 2}) == first
    assert notify(payload={"order_id": key}) == first
    assert calls == [key]
    # another key runs again
    assert notify(payload={"order_id": other}) == {"sent": other, "n": 2}
    assert calls == [key, other]


def test_none_result_is_stored_too(persistence_layer: BasePersistenceLayer) -> None:
    calls = 0

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=persistence_layer,
        config=IdempotencyConfig(event_key_jmespath="id"),
    )
    def task(payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1

    key = new_key()
    assert task(payload={"id": key}) is None
    assert task(payload={"id": key}) is None
    assert calls == 1


def test_an_exception_deletes_the_record_so_a_retry_runs(
    persistence_layer: BasePersistenceLayer,
) -> None:
    attempts = 0

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=persistence_layer,
        config=IdempotencyConfig(event_key_jmespath="id"),
    )
    def flaky(payload: dict[str, Any]) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("provider timed out")
        return "ok"

    key = new_key()
    with pytest.raises(RuntimeError):
        flaky(payload={"id": key})
    assert flaky(payload={"id": key}) == "ok"
    assert flaky(payload={"id": key}) == "ok"
    assert attempts == 2


def test_duplicate_while_in_progress_raises(persistence_layer: BasePersistenceLayer) -> None:
    seen: list[BaseException] = []
    runs = 0

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=persistence_layer,
        config=IdempotencyConfig(event_key_jmespath="id"),
    )
    def task(payload: dict[str, Any]) -> str:
        nonlocal runs
        runs += 1
        if payload.get("nested"):
            # a second delivery of the same key arrives while this one runs
            try:
                task(payload={"id": payload["id"]})
            except IdempotencyAlreadyInProgressError as exc:
                seen.append(exc)
        return "done"

    key = new_key()
    assert task(payload={"id": key, "nested": True}) == "done"
    assert len(seen) == 1
    assert runs == 1
    assert task(payload={"id": key}) == "done"  # completed now: stored result
    assert runs == 1


def test_an_expired_in_progress_record_can_be_retaken(backend: Backend) -> None:
    config = IdempotencyConfig(event_key_jmespath="id")
    config.register_lambda_context(FakeLambdaContext(remaining_ms=800))
    runs = 0

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=backend.persistence_layer(),
        config=config,
    )
    def task(payload: dict[str, Any]) -> str:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise Crash  # the invocation dies and leaves its INPROGRESS record behind
        return "second try"

    key = new_key()
    with pytest.raises(Crash):
        task(payload={"id": key})
    with pytest.raises(IdempotencyAlreadyInProgressError):
        task(payload={"id": key})  # still inside the crashed invocation's remaining time
    assert runs == 1
    time.sleep(1.0)
    assert task(payload={"id": key}) == "second try"
    assert runs == 2


def test_an_in_progress_record_without_a_context_does_not_expire(backend: Backend) -> None:
    runs = 0

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=backend.persistence_layer(),
        config=IdempotencyConfig(event_key_jmespath="id"),
    )
    def task(payload: dict[str, Any]) -> str:
        nonlocal runs
        runs += 1
        raise Crash

    key = new_key()
    with pytest.raises(Crash):
        task(payload={"id": key})
    time.sleep(0.3)
    with pytest.raises(IdempotencyAlreadyInProgressError):
        task(payload={"id": key})
    assert runs == 1


def test_an_expired_record_runs_again(persistence_layer: BasePersistenceLayer) -> None:
    runs = 0

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=persistence_layer,
        config=IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=1),
    )
    def task(payload: dict[str, Any]) -> int:
        nonlocal runs
        runs += 1
        return runs

    key = new_key()
    assert task(payload={"id": key}) == 1
    assert task(payload={"id": key}) == 1
    time.sleep(2.1)  # expiry is whole seconds: 2 s is certainly past it
    assert task(payload={"id": key}) == 2
    assert task(payload={"id": key}) == 2


def test_two_functions_with_separate_layers_do_not_share_keys(backend: Backend) -> None:
    ran: list[str] = []

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=backend.persistence_layer(),
        config=IdempotencyConfig(event_key_jmespath="id"),
    )
    def first(payload: dict[str, Any]) -> str:
        ran.append("first")
        return "first"

    @idempotent_function(
        data_keyword_argument="payload",
        persistence_store=backend.persistence_layer(),
        config=IdempotencyConfig(event_key_jmespath="id"),
    )
    def second(payload: dict[str, Any]) -> str:
        ran.append("second")
        return "second"

    key = new_key()
    assert first(payload={"id": key}) == "first"
    assert second(payload={"id": key}) == "second"
    assert first(payload={"id": key}) == "first"
    assert ran == ["first", "second"]
