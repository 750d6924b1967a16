"""Handler + local runtime contract: the same end-to-end behaviour on every backend.

App -> queue -> LocalRuntime (ESM emulator) -> App.lambda_handler -> task, with the
real backend underneath (SQLite files, or SQS/S3/DynamoDB on a moto server).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from tests.contract.conftest import new_queue_name

import tayori
from tayori.backends.base import Backend
from tayori.errors import BlobNotFound
from tayori.runtime.local import LocalRuntime, RuntimeConfig
from tayori.wire import claimcheck
from tayori.wire.reasons import ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE

RUN_TIMEOUT = 60


def make_app(backend: Backend, **settings: Any) -> tayori.App:
    settings.setdefault("visibility_timeout", 2)
    settings.setdefault("max_receive_count", 3)
    return tayori.App(
        "contract",
        backend=backend,
        settings=tayori.Settings(bucket=backend.default_bucket, **settings),
    )


def runtime(app: tayori.App, **config: Any) -> LocalRuntime:
    config.setdefault("concurrency", 4)
    config.setdefault("function_timeout", 1.0)
    config.setdefault("poll_wait_seconds", 0)
    return app.runtime(RuntimeConfig(**config))


def dead_letters(app: tayori.App, queue: str) -> list[tayori.QueueMessage]:
    dlq = app.queue(app.dead_letter_queue_name(queue))
    out: list[tayori.QueueMessage] = []
    for _ in range(20):
        batch = dlq.receive(10, 0, 60)
        if not batch:
            break
        out.extend(batch)
    return out


def test_success_runs_each_payload_once_and_empties_the_queue(backend: Backend) -> None:
    # long timeouts: on a loaded machine a 2 s visibility timeout can redeliver (correctly)
    app = make_app(backend, visibility_timeout=60)
    seen: Counter[int] = Counter()
    lock = threading.Lock()
    queue = new_queue_name("ok")

    @app.task(queue=queue, idempotency_key="n")
    def work(payload: dict[str, int]) -> dict[str, int]:
        with lock:
            seen[payload["n"]] += 1
        return {"double": payload["n"] * 2}

    ids = work.send_many({"n": i} for i in range(25))
    assert len(ids) == len(set(ids)) == 25
    stats = runtime(app, function_timeout=10.0).run_until_idle(timeout=RUN_TIMEOUT)
    assert stats.idle
    assert seen == Counter(range(25))  # exactly-once effects
    assert app.queue(queue).stats().total == 0
    counters = app.handler.counters.snapshot()
    # moto's threaded server can hand one message to two receivers: a duplicate delivery is
    # skipped by idempotency (or retried while the first still runs), never run twice
    assert counters["succeeded"] - counters["duplicates_skipped"] == 25
    assert stats.deleted >= 25


def test_permanent_error_dead_letters_at_once_with_reason(backend: Backend) -> None:
    app = make_app(backend)
    queue = new_queue_name("perm")
    calls: Counter[int] = Counter()

    @app.task(queue=queue, idempotency_key="n")
    def work(payload: dict[str, int]) -> None:
        calls[payload["n"]] += 1
        if payload["n"] == 3:
            raise tayori.PermanentError("recipient 3 does not exist")

    work.send_many({"n": i} for i in range(6))
    stats = runtime(app).run_until_idle(timeout=RUN_TIMEOUT)
    assert stats.idle
    assert calls[3] == 1  # no retry
    (letter,) = dead_letters(app, queue)
    assert letter.attributes[ERROR_ATTRIBUTE].value == "recipient 3 does not exist"
    assert letter.attributes[ERROR_TYPE_ATTRIBUTE].value == "PermanentError"
    assert tayori.Envelope.parse(letter.body).payload == {"n": 3}


def test_failures_retry_with_backoff_then_dead_letter_after_max_receives(
    backend: Backend,
) -> None:
    app = make_app(backend, max_receive_count=2)
    queue = new_queue_name("flaky")
    attempts: list[float] = []

    @app.task(queue=queue)
    def always_fails(payload: dict[str, Any]) -> None:
        attempts.append(time.monotonic())
        raise ConnectionError("provider reset the connection")

    always_fails.send({"x": 1})
    stats = runtime(app).run_until_idle(timeout=RUN_TIMEOUT)
    assert stats.idle
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.9  # backoff, not an instant retry
    (letter,) = dead_letters(app, queue)
    reason = str(letter.attributes[ERROR_ATTRIBUTE].value)
    assert reason.startswith("gave up after 2 attempts: provider reset the connection")
    assert letter.attributes[ERROR_TYPE_ATTRIBUTE].value == "ConnectionError"


def test_retry_later_delays_the_next_attempt(backend: Backend) -> None:
    app = make_app(backend, visibility_timeout=30)  # only RetryLater can bring it back soon
    queue = new_queue_name("later")
    attempts: list[float] = []

    @app.task(queue=queue)
    def throttled(payload: dict[str, Any]) -> str:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise tayori.RetryLater(2, "provider throttled")
        return "sent"

    throttled.send({"x": 1})
    stats = runtime(app).run_until_idle(timeout=RUN_TIMEOUT)
    assert stats.idle and len(attempts) == 2
    assert 1.5 <= attempts[1] - attempts[0] < 20


def test_duplicate_delivery_runs_the_body_once(backend: Backend) -> None:
    """The same message handed to the handler twice (at-least-once) sends once."""
    app = make_app(backend)
    queue = new_queue_name("dup")
    runs: list[str] = []

    @app.task(queue=queue, idempotency_key="id")
    def send(payload: dict[str, str]) -> None:
        runs.append(payload["id"])

    send.send({"id": "b1:alice@example.com"})
    q = app.queue(queue)
    (message,) = q.receive(1, 1, 30)
    event = {"Records": [message.to_lambda_record(q.arn, backend.region)]}
    assert app.lambda_handler(event, None) == {"batchItemFailures": []}
    assert app.lambda_handler(event, None) == {"batchItemFailures": []}
    assert runs == ["b1:alice@example.com"]
    assert app.handler.counters.snapshot()["duplicates_skipped"] == 1
    # a NEW message with the same business key (producer retry) is skipped too
    send.send({"id": "b1:alice@example.com"})
    runtime(app).run_until_idle(timeout=RUN_TIMEOUT)
    assert runs == ["b1:alice@example.com"]


def test_bad_input_is_dead_lettered_with_its_reason(backend: Backend) -> None:
    app = make_app(backend)
    queue = new_queue_name("bad")

    @app.task(queue=queue)
    def known(payload: Any) -> None:
        pass

    q = app.queue(queue)
    q.send("not json at all")
    q.send('{"v": 1, "task": "nobody", "key": "k", "payload": {}}')
    q.send('{"v": 9, "task": "known", "key": "k", "payload": {}}')
    q.send(
        '["software.amazon.payloadoffloading.PayloadS3Pointer", '
        '{"s3BucketName": "someone-elses-bucket", "s3Key": "x"}]'
    )
    q.send(
        '["software.amazon.payloadoffloading.PayloadS3Pointer", '
        f'{{"s3BucketName": "{backend.default_bucket}", "s3Key": "tayori/gone"}}]'
    )
    stats = runtime(app).run_until_idle(timeout=RUN_TIMEOUT)
    assert stats.idle
    types = sorted(str(m.attributes[ERROR_TYPE_ATTRIBUTE].value) for m in dead_letters(app, queue))
    assert types == [
        "BucketNotAllowed",
        "MalformedMessage",
        "MissingBlob",
        "UnknownTask",
        "UnsupportedVersion",
    ]
    assert app.queue(queue).stats().total == 0


def test_large_payload_goes_through_the_claim_check_and_blob_is_deleted(
    backend: Backend,
) -> None:
    app = make_app(backend, offload_threshold=4096)
    queue = new_queue_name("big")
    got: list[int] = []

    @app.task(queue=queue)
    def big(payload: dict[str, str]) -> None:
        got.append(len(payload["text"]))

    big.send({"text": "あ" * 50_000})  # 150 KB of UTF-8
    q = app.queue(queue)
    (raw,) = q.receive(1, 1, 0)  # look without taking it
    assert raw.body.startswith('["software.amazon.payloadoffloading.PayloadS3Pointer"')
    key = claimcheck.parse_pointer(raw.body, raw.attributes).key
    stats = runtime(app).run_until_idle(timeout=RUN_TIMEOUT)
    assert stats.idle and got == [50_000]
    with pytest.raises(BlobNotFound):
        backend.blob_store(backend.default_bucket).get(key)


def test_timed_out_invocation_is_retried_and_its_late_result_discarded(
    backend: Backend,
) -> None:
    app = make_app(backend)
    queue = new_queue_name("slow")
    runs: list[float] = []

    @app.task(queue=queue, idempotency_key="id")
    def slow(payload: dict[str, str]) -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            time.sleep(2.5)  # past the 1 s function timeout

    slow.send({"id": "only"})
    stats = runtime(app, function_timeout=1.0).run_until_idle(timeout=RUN_TIMEOUT)
    assert stats.idle
    assert stats.timeouts == 1
    assert app.queue(queue).stats().total == 0
    # the late first run completed its idempotency record before the retry
    # or the retry ran: either way at most two starts, and the queue is drained
    assert 1 <= len(runs) <= 2


def test_partial_batch_failure_retries_only_the_failed_record(backend: Backend) -> None:
    app = make_app(backend)
    queue = new_queue_name("partial")
    attempts: Counter[int] = Counter()

    @app.task(queue=queue, idempotency_key="n")
    def work(payload: dict[str, int]) -> None:
        attempts[payload["n"]] += 1
        if payload["n"] == 4 and attempts[4] == 1:
            raise RuntimeError("transient")

    work.send_many({"n": i} for i in range(10))
    stats = runtime(app, concurrency=1, initial_concurrency=1).run_until_idle(timeout=RUN_TIMEOUT)
    assert stats.idle
    assert attempts[4] == 2
    assert all(attempts[n] == 1 for n in range(10) if n != 4)
