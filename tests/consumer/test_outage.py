"""Infrastructure trouble is not the message's fault (issue 10, section 3).

Unit rules first; then measured outages of 60 s on the embedded backend (the
idempotency store failing every call) and on moto (the idempotency table deleted and
re-created; a fault proxy answering 500 / throttling to every call): nothing lost,
nothing healthy dead-lettered, every task ran once, one log line per state change.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyPersistenceLayerError,
)

import tayori
from tayori.backends.sqlite import SqliteBackend
from tayori.consumer.retry import Outcome, RetryPolicy, decide_retry, is_infrastructure
from tayori.errors import (
    BlobError,
    BlobNotFound,
    ConfigError,
    InfrastructureError,
    MissingBlob,
    PermanentError,
    QueueUnavailable,
)
from tayori.runtime.local import RuntimeConfig

OUTAGE_SECONDS = 60
MESSAGES = 20


# ---------------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    "exc",
    [
        IdempotencyPersistenceLayerError("Failed to save in progress record", "ResourceNotFound"),
        QueueUnavailable("SQS unreachable"),
        BlobError("bucket 'tayori' does not exist"),
        ConfigError("access denied (AccessDenied)"),
        InfrastructureError("down"),
        sqlite3.OperationalError("database is locked"),
    ],
)
def test_infrastructure_failures_back_off_for_minutes(exc: Exception) -> None:
    assert is_infrastructure(exc)
    d = decide_retry(exc, 1, 5, RetryPolicy(), random.Random(1))
    assert d.outcome is Outcome.RETRY and d.infrastructure
    assert d.delay_seconds is not None and d.delay_seconds >= 60


@pytest.mark.parametrize(
    "exc", [ValueError("x"), PermanentError("no"), MissingBlob("gone"), BlobNotFound("gone")]
)
def test_the_messages_own_failures_are_not_infrastructure(exc: Exception) -> None:
    assert not is_infrastructure(exc)


def test_the_default_budget_rides_out_ten_minutes_before_the_dlq() -> None:
    policy = RetryPolicy()
    assert policy.outage_budget(5) >= 600
    for seed in range(50):  # jitter only ever adds time
        rng = random.Random(seed)
        waited = sum(policy.outage_backoff(n, rng) for n in range(1, 5))
        assert waited >= 600
        assert decide_retry(QueueUnavailable("x"), 4, 5, policy, rng).outcome is Outcome.RETRY
    last = decide_retry(QueueUnavailable("x"), 5, 5, policy)
    assert last.outcome is Outcome.DEAD_LETTER and "gave up after 5 attempts" in last.reason


def test_a_botocore_error_is_infrastructure() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError

    throttled = ClientError({"Error": {"Code": "ThrottlingException"}}, "PutItem")
    assert is_infrastructure(throttled)
    assert is_infrastructure(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))


# ---------------------------------------------------------------------- measured outages


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def handler_log() -> Iterator[list[str]]:
    logger = logging.getLogger("tayori.handler")
    lines = _Lines()
    logger.addHandler(lines)
    try:
        yield lines.lines
    finally:
        logger.removeHandler(lines)


class _Switch:
    def __init__(self) -> None:
        self.down = threading.Event()


class _Backend(SqliteBackend):
    switch = _Switch()

    def persistence_layer(self) -> Any:
        layer = super().persistence_layer()
        # Powertools calls the abstract methods on the instance: wrap them in place
        for name in ("_get_record", "_put_record", "_update_record", "_delete_record"):
            real = getattr(layer, name)
            setattr(layer, name, _guard(real, self.switch))
        return layer


def _guard(real: Any, switch: _Switch) -> Any:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if switch.down.is_set():
            raise sqlite3.OperationalError("disk I/O error (store unavailable)")
        return real(*args, **kwargs)

    return guarded


def _drain_through_outage(
    app: tayori.App, queue: str, start_outage: Any, end_outage: Any
) -> tuple[Counter[int], dict[str, Any], float]:
    ran: Counter[int] = Counter()
    lock = threading.Lock()

    @app.task(queue=queue, idempotency_key="n")
    def work(payload: dict) -> None:
        with lock:
            ran[payload["n"]] += 1

    assert app.producer  # its start-up check of the tables runs before the outage begins
    start_outage()
    work.send_many({"n": i} for i in range(MESSAGES))
    runtime = app.runtime(RuntimeConfig(concurrency=4, poll_wait_seconds=1))
    started = time.monotonic()
    runtime.start()
    time.sleep(OUTAGE_SECONDS)
    end_outage()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and sum(ran.values()) < MESSAGES:
        time.sleep(0.5)
    drained = time.monotonic() - started
    stats = runtime.stop().as_dict()
    return ran, stats, drained


@pytest.mark.slow
def test_embedded_idempotency_store_down_for_60s_loses_nothing(tmp_path: Path) -> None:
    backend = _Backend(tmp_path / "store")
    app = tayori.App(
        "outage",
        backend=backend,
        settings=tayori.Settings(url=f"sqlite:///{tmp_path / 'store'}", visibility_timeout=180),
    )
    with handler_log() as lines:
        ran, stats, drained = _drain_through_outage(
            app, "jobs", backend.switch.down.set, backend.switch.down.clear
        )
    assert ran == Counter(range(MESSAGES)), (ran, stats)
    assert app.queue("jobs").stats().total == 0
    assert app.queue("jobs-dlq").stats().total == 0
    assert app.handler.counters.snapshot()["dead_lettered"] == 0
    assert sum("infrastructure unavailable" in line for line in lines) == 1, lines
    assert sum("infrastructure recovered" in line for line in lines) == 1, lines
    print(f"\nembedded outage {OUTAGE_SECONDS}s: drained {MESSAGES} in {drained:.0f}s, {stats}")


@pytest.mark.slow
def test_moto_idempotency_table_deleted_and_recreated(moto_url: str) -> None:
    from tayori.backends.aws import AwsBackend

    backend = AwsBackend("us-east-1", endpoint_url=moto_url, bucket="tayori-outage")
    backend.create_resources()
    app = tayori.App(
        "outage",
        backend=backend,
        settings=tayori.Settings(
            url="aws://?region=us-east-1",
            endpoint_url=moto_url,
            bucket="tayori-outage",
            visibility_timeout=180,
        ),
    )
    dynamodb = backend.client("dynamodb")
    with handler_log() as lines:
        ran, stats, drained = _drain_through_outage(
            app,
            "jobs",
            lambda: dynamodb.delete_table(TableName=backend.idempotency_table),
            backend.create_resources,
        )
    assert ran == Counter(range(MESSAGES)), (ran, stats)
    assert app.queue("jobs-dlq").stats().total == 0
    assert app.handler.counters.snapshot()["dead_lettered"] == 0
    assert sum("infrastructure unavailable" in line for line in lines) == 1, lines
    print(f"\nmoto table outage {OUTAGE_SECONDS}s: drained {MESSAGES} in {drained:.0f}s, {stats}")


@pytest.mark.slow
def test_moto_behind_a_proxy_failing_every_call_for_60s(moto_url: str) -> None:
    """Every call (SQS, S3, DynamoDB) fails for 60 s while records are mid-flight.

    A task that ran but whose completion write failed is the documented window: it may
    run again once its in-progress record expires. So: nothing lost, nothing
    dead-lettered, and duplicates only among the records in flight at the switch."""
    from reliability.faultproxy import FaultProxy

    from tayori.backends.aws import AwsBackend

    port = int(moto_url.rsplit(":", 1)[1])
    with FaultProxy(port) as proxy:
        backend = AwsBackend("us-east-1", endpoint_url=proxy.url, bucket="tayori-proxy")
        backend.create_resources()
        settings = tayori.Settings(
            url="aws://?region=us-east-1",
            endpoint_url=proxy.url,
            bucket="tayori-proxy",
            visibility_timeout=90,
        )
        app = tayori.App("outage", backend=backend, settings=settings)
        ran: Counter[int] = Counter()
        lock = threading.Lock()

        @app.task(queue="jobs", idempotency_key="n")
        def work(payload: dict) -> None:
            time.sleep(0.3)
            with lock:
                ran[payload["n"]] += 1

        work.send_many({"n": i} for i in range(MESSAGES))
        config = RuntimeConfig(concurrency=2, initial_concurrency=2, function_timeout=10)
        runtime = app.runtime(config)
        started = time.monotonic()
        with handler_log() as lines:
            runtime.start()
            while sum(ran.values()) < 2:  # some records done, the rest mid-flight
                time.sleep(0.05)
            proxy.after, proxy.rate = False, 1.0
            done_at_switch = sum(ran.values())
            time.sleep(OUTAGE_SECONDS)
            proxy.rate = 0.0
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and (
                len(ran) < MESSAGES or app.queue("jobs").stats().total
            ):
                time.sleep(1)
            stats = runtime.stop().as_dict()
        drained = time.monotonic() - started
        duplicates = sum(ran.values()) - len(ran)
        assert set(ran) == set(range(MESSAGES)), (ran, stats, dict(proxy.injected))
        assert duplicates <= config.concurrency, ran
        assert done_at_switch < MESSAGES  # the outage did hit records
        assert app.queue("jobs-dlq").stats().total == 0
        assert app.handler.counters.snapshot()["dead_lettered"] == 0
        assert sum("infrastructure unavailable" in line for line in lines) <= 1, lines
        print(
            f"\nproxy outage {OUTAGE_SECONDS}s: {done_at_switch} done at the switch, drained in "
            f"{drained:.0f}s, {duplicates} duplicate runs, injected {dict(proxy.injected)}, {stats}"
        )
