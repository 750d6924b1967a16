"""App.lambda_handler on real SQS event documents built from a moto queue's messages,
with the batchItemFailures rules applied exactly as the event source mapping does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

import tayori
from tayori.backends.aws import AwsBackend
from tayori.backends.base import Queue, QueueMessage
from tayori.settings import Settings

REGION = "us-east-1"


def apply_esm_response(queue: Queue, batch: Sequence[QueueMessage], response: Any) -> set[str]:
    """What the ESM does with a ReportBatchItemFailures response; returns the ids retried.

    None / {} / empty list: all succeeded (deleted). Listed ids stay for retry; an unknown,
    empty or null id or a malformed response fails the whole batch (nothing deleted).
    """
    ids = {m.message_id for m in batch}
    failures = None if response is None else response.get("batchItemFailures")
    if failures is None or failures == []:
        retried: set[str] = set()
    elif not isinstance(failures, list):
        return ids
    else:
        retried = set()
        for item in failures:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in ids:
                return ids
            retried.add(ident)
    for m in batch:
        if m.message_id not in retried:
            queue.delete(m.receipt_handle)
    return retried


@pytest.fixture
def app(moto_url: str) -> tayori.App:
    settings = Settings(
        url=f"aws://?region={REGION}", endpoint_url=moto_url, bucket="tayori-lambda-test"
    )
    backend = AwsBackend.from_settings(settings)
    backend.create_resources()
    return tayori.App("shop", settings=settings, backend=backend)


def test_partial_batch_response_on_real_sqs_records(app: tayori.App) -> None:
    ran: list[int] = []

    @app.task(queue="orders", idempotency_key="order_id")
    def notify(payload: dict) -> None:
        if payload.get("boom"):
            raise RuntimeError("provider down")
        if payload.get("never"):
            raise tayori.PermanentError("address rejected")
        ran.append(payload["order_id"])

    notify.send({"order_id": 1})
    notify.send({"order_id": 1})  # duplicate logical send of the same order
    notify.send({"order_id": 2, "boom": True})
    notify.send({"order_id": 3, "never": True})
    notify.send({"order_id": 4, "pad": "x" * 300_000})  # claim-check through S3

    queue = app.queue("orders")
    batch: list[QueueMessage] = []
    for _ in range(10):
        batch += queue.receive(10, 1)
        if len(batch) == 5:
            break
    assert len(batch) == 5
    event = {"Records": [m.to_lambda_record(queue.arn, REGION) for m in batch]}
    record = event["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == REGION
    assert record["attributes"]["ApproximateReceiveCount"] == "1"

    response = app.lambda_handler(event, None)
    retried = apply_esm_response(queue, batch, response)

    boom = next(m for m in batch if '"boom":true' in m.body)
    assert retried == {boom.message_id}
    assert sorted(ran) == [1, 4]  # the duplicate did not run the body again
    stats = queue.stats()
    assert stats.visible + stats.in_flight + stats.delayed == 1  # only the retried one
    dlq = app.backend.get_queue("orders-dlq")
    [dead] = dlq.receive(1, 1)
    assert '"never":true' in dead.body
    assert dead.attributes["tayori-error-type"].value == "PermanentError"
    assert "address rejected" in str(dead.attributes["tayori-error"].value)


def test_esm_rules_for_malformed_responses(app: tayori.App) -> None:
    @app.task(queue="rules")
    def noop(payload: dict) -> None:
        return None

    for i in range(3):
        noop.send({"i": i})
    queue = app.queue("rules")
    batch = queue.receive(10, 1)
    ids = {m.message_id for m in batch}
    assert apply_esm_response(queue, batch, {"batchItemFailures": [{"itemIdentifier": ""}]}) == ids
    assert apply_esm_response(queue, batch, {"batchItemFailures": [{"itemIdentifier": "x"}]}) == ids
    assert apply_esm_response(queue, batch, {"batchItemFailures": "oops"}) == ids
    assert queue.stats().in_flight == len(batch)  # nothing deleted
    assert apply_esm_response(queue, batch, None) == set()
    assert queue.stats().total == 0
