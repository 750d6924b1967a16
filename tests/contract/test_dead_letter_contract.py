"""Dead letters keep their body and their reason, on every backend (issue 9 defects 1-4)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from tests.contract.conftest import new_queue_name
from tests.contract.test_runtime_contract import dead_letters, make_app, runtime

from tayori.backends.base import Backend, QueueSpec, RedrivePolicy, SendEntry
from tayori.errors import InvalidParameterValue, PermanentError
from tayori.wire import Attribute
from tayori.wire.envelope import Envelope
from tayori.wire.reasons import ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE

MIB = 1_048_576


def _letter_payload(app: Any, message: Any) -> Any:
    body, _ = app.claim_check.resolve(message.body, message.attributes)
    return Envelope.parse(body).payload


def test_a_big_dead_letter_keeps_its_body_with_1mib_limits(backend: Backend) -> None:
    app = make_app(backend, offload_threshold=MIB, max_batch_bytes=MIB)
    queue = new_queue_name("big")
    payload = {"blob": "x" * 300_000}

    @app.task(queue=queue)
    def refuse(p: dict) -> None:
        raise PermanentError("no")

    refuse.send(payload)
    assert runtime(app).run_until_idle(timeout=60).idle
    (letter,) = dead_letters(app, queue)
    assert _letter_payload(app, letter) == payload
    assert letter.attributes[ERROR_ATTRIBUTE].value == "no"


def test_a_dlq_with_a_smaller_limit_gets_the_body_by_claim_check(backend: Backend) -> None:
    # a DLQ made by an older tayori with the 256 KiB default, source raised to 1 MiB
    app = make_app(backend, offload_threshold=MIB, max_batch_bytes=MIB)
    queue = new_queue_name("old")
    dlq = app.dead_letter_queue_name(queue)
    backend.create_queue(dlq, QueueSpec(visibility_timeout=2))
    backend.create_queue(
        queue, QueueSpec(visibility_timeout=2, max_message_size=MIB, redrive=RedrivePolicy(dlq, 3))
    )
    payload = {"blob": "y" * 300_000}

    @app.task(queue=queue)
    def refuse(p: dict) -> None:
        raise PermanentError("still no")

    refuse.send(payload)
    assert runtime(app).run_until_idle(timeout=60).idle
    (letter,) = dead_letters(app, queue)
    assert letter.body.startswith('["software.amazon.payloadoffloading.PayloadS3Pointer"')
    assert _letter_payload(app, letter) == payload
    assert letter.attributes[ERROR_ATTRIBUTE].value == "still no"


def test_a_reason_with_characters_sqs_refuses_is_sanitised(backend: Backend) -> None:
    app = make_app(backend)
    queue = new_queue_name("esc")
    ran: list[int] = []

    @app.task(queue=queue)
    def colourful(p: dict) -> None:
        ran.append(1)
        raise PermanentError("\x1b[31mred\x1b[0m failure with NUL \x00 and bell \x07")

    colourful.send({"n": 1})
    assert runtime(app).run_until_idle(timeout=60).idle
    (letter,) = dead_letters(app, queue)
    assert letter.attributes[ERROR_ATTRIBUTE].value == "red failure with NUL \\x00 and bell \\x07"
    assert ran == [1]


@pytest.mark.parametrize("value", ["\x1b[31m", "a\x00b", "\ufffe", "bell\x07"])
def test_queues_refuse_attribute_values_sqs_refuses(backend: Backend, value: str) -> None:
    q = backend.create_queue(new_queue_name("attr"), QueueSpec(visibility_timeout=2))
    with pytest.raises(InvalidParameterValue, match="refuses"):
        q.send("body", {"a": Attribute.string(value)})
    res = q.send_batch(
        [SendEntry("0", "ok"), SendEntry("1", "bad", {"a": Attribute.string(value)})]
    )
    assert [r.id for r in res.successful] == ["0"]
    assert [(f.id, f.code) for f in res.failed] == [("1", "InvalidParameterValue")]


def test_a_task_that_exits_fails_only_its_own_record(backend: Backend) -> None:
    app = make_app(backend, visibility_timeout=30)
    queue = new_queue_name("exit")
    runs: dict[str, int] = {}

    @app.task(queue=queue, idempotency_key="kind")
    def work(p: dict) -> None:
        runs[p["kind"]] = runs.get(p["kind"], 0) + 1
        if p["kind"] == "exit":
            sys.exit(3)
        if p["kind"] == "interrupt":
            raise KeyboardInterrupt

    work.send_many([{"kind": "exit"}, {"kind": "ok"}, {"kind": "interrupt"}, {"kind": "ok2"}])
    stats = runtime(app, batch_size=10, concurrency=1, initial_concurrency=1).run_until_idle(60)
    assert stats.idle and stats.function_errors == 0
    assert runs == {"exit": 1, "ok": 1, "interrupt": 1, "ok2": 1}
    letters = dead_letters(app, queue)
    assert [str(m.attributes[ERROR_TYPE_ATTRIBUTE].value) for m in letters] == ["TaskExited"] * 2
    reasons = sorted(str(m.attributes[ERROR_ATTRIBUTE].value) for m in letters)
    assert any("tried to exit" in r and "SystemExit" in r for r in reasons), reasons
    assert any("KeyboardInterrupt" in r for r in reasons), reasons


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() of this error fails")


class BrokenPermanent(PermanentError):
    def __str__(self) -> str:
        raise RuntimeError("str() of this error fails")


def test_an_error_whose_str_fails_still_gets_a_reason(backend: Backend) -> None:
    app = make_app(backend)
    queue = new_queue_name("str")

    @app.task(queue=queue)
    def broken(p: dict) -> None:
        raise BrokenPermanent()

    broken.send({"n": 1})
    assert runtime(app).run_until_idle(timeout=60).idle
    (letter,) = dead_letters(app, queue)
    assert letter.attributes[ERROR_ATTRIBUTE].value == "<BrokenPermanent: str() failed>"


def test_a_retried_error_whose_str_fails_is_reported_by_id(backend: Backend) -> None:
    app = make_app(backend, visibility_timeout=30)
    queue = new_queue_name("str2")

    @app.task(queue=queue)
    def broken(p: dict) -> None:
        raise BrokenStr()

    broken.send({"n": 1})
    q = app.queue(queue)
    (msg,) = q.receive(1, 0)
    event = {"Records": [msg.to_lambda_record(q.arn, backend.region)]}
    response = app.lambda_handler(event)
    assert response == {"batchItemFailures": [{"itemIdentifier": msg.message_id}]}
    assert app.handler.counters.snapshot()["failed"] == 1
