"""CeleryCodec on bodies a foreign producer may write: one clear reason each, never a crash."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from celery import Celery
from kombu.utils.json import dumps as kombu_dumps

from tayori.errors import BadMessage, MalformedMessage, UnsupportedFormat
from tayori.wire.celery import CeleryCodec


def kombu_body(message: dict) -> str:
    return base64.b64encode(json.dumps(message).encode()).decode()


def celery_message(args, kwargs, **headers) -> dict:
    body = base64.b64encode(kombu_dumps([args, kwargs, {}]).encode()).decode()
    return {
        "body": body,
        "content-type": "application/json",
        "content-encoding": "utf-8",
        "headers": {"task": "t.add", "id": "id-1", "retries": 0, **headers},
        "properties": {"body_encoding": "base64", "delivery_info": {"routing_key": "celery"}},
    }


def test_kombus_tagged_types_come_back_as_types() -> None:
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    msg = celery_message([Decimal("1.5")], {"when": when}, eta="2026-01-02T03:04:05+00:00")
    envelope = CeleryCodec().decode(kombu_body(msg), {}).envelope
    assert envelope.args == (Decimal("1.5"),) and envelope.kwargs == {"when": when}
    assert envelope.key == "id-1" and envelope.eta_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_plain_json_body_is_read_too() -> None:  # sqs_base64_encoding=False
    msg = celery_message([1], {})
    assert CeleryCodec().decode(json.dumps(msg), {}).envelope.args == (1,)


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ("%%% not base64", MalformedMessage, "neither JSON nor base64"),
        (base64.b64encode(b"[1,2]").decode(), MalformedMessage, "not a kombu message"),
        (
            kombu_body({"body": "x", "content-type": "application/x-yaml"}),
            UnsupportedFormat,
            "yaml",
        ),
        (kombu_body({"body": "x", "content-type": "text/plain"}), UnsupportedFormat, "not JSON"),
        (
            kombu_body({**celery_message([1], {}), "headers": {}}),
            MalformedMessage,
            "no task header",
        ),
        (kombu_body(celery_message([1], {}, retries=-1)), MalformedMessage, "retries"),
        (kombu_body(celery_message([1], {}, eta="soon")), MalformedMessage, "ISO-8601"),
        (kombu_body({**celery_message([1], {}), "body": "!!"}), MalformedMessage, "base64"),
    ],
)
def test_bad_bodies_have_one_line_reasons(body: str, error: type, words: str) -> None:
    with pytest.raises(error) as info:
        CeleryCodec().decode(body, {})
    assert isinstance(info.value, BadMessage)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_real_celery_message_round_trips_with_the_retry_count() -> None:
    app = Celery("t", broker="memory://")

    @app.task(name="t.add")
    def add(x, y=0):
        return x + y

    add.apply_async((1,), {"y": 2}, task_id="fixed-id", countdown=60)
    from kombu.transport import memory

    raw = memory.Channel.queues["celery"].get()
    codec = CeleryCodec()
    envelope = codec.decode(kombu_body(raw), {}).envelope
    assert (envelope.task, envelope.key, envelope.args, envelope.kwargs) == (
        "t.add",
        "fixed-id",
        (1,),
        {"y": 2},
    )
    assert envelope.eta is not None
    import dataclasses

    copy = codec.decode(codec.encode(dataclasses.replace(envelope, retries=3)).body, {})
    assert copy.envelope.retries == 3 and copy.envelope.key == "fixed-id"
