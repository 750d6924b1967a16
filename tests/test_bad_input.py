"""Hostile and broken input on the consumer side: the handler never crashes the worker.

Every kind ends in the DLQ with a ``tayori-error`` reason, or is refused before it is
enqueued (producer side), or -- for records that carry no id at all -- is logged,
because nothing could report it. A hypothesis fuzz test drives random bodies and
attributes through ``App.lambda_handler`` on the embedded backend.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tayori
from tayori.backends.base import Attribute
from tayori.errors import InvalidParameterValue, MalformedEvent, MessageTooLong, QueueError
from tayori.settings import Settings
from tayori.wire.claimcheck import POINTER_CLASS, SIZE_ATTRIBUTE
from tayori.wire.reasons import ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE


@pytest.fixture
def app(tmp_path: Path) -> tayori.App:
    app = tayori.App("bad", settings=Settings(url=f"sqlite:///{tmp_path / 'store'}"))

    @app.task(queue="jobs")
    def echo(payload: Any) -> None:
        app.ran.append(payload)  # type: ignore[attr-defined]

    @app.task(queue="jobs", idempotency_key="order_id")
    def order(payload: Any) -> None:
        app.ran.append(payload)  # type: ignore[attr-defined]

    app.ran = []  # type: ignore[attr-defined]
    app.queue("jobs")
    return app


def record(app: tayori.App, body: Any, attrs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Lambda SQS record for the ``jobs`` queue, as the ESM would build it."""
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": f"999999.{uuid.uuid4().hex}",  # well-formed, matches nothing
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": attrs if attrs is not None else {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": app.queue("jobs").arn,
        "awsRegion": "local",
    }


def dead_letters(app: tayori.App) -> list[tuple[str, str]]:
    """(error type, reason) of every dead letter, received for good."""
    dlq = app.queue("jobs-dlq")
    out = []
    while batch := dlq.receive(10, 0, 300):
        for m in batch:
            out.append(
                (
                    str(m.attributes[ERROR_TYPE_ATTRIBUTE].value),
                    str(m.attributes[ERROR_ATTRIBUTE].value),
                )
            )
    return out


def envelope(task: str = "echo", **fields: Any) -> str:
    data = {"v": 1, "task": task, "key": str(uuid.uuid4()), "payload": {"x": 1}, **fields}
    return json.dumps(data)


def pointer(ref: dict[str, Any]) -> str:
    return json.dumps([POINTER_CLASS, ref])


SIZE = {SIZE_ATTRIBUTE: {"stringValue": "10", "dataType": "Number"}}

# kind -> (body, messageAttributes, expected tayori-error-type)
CORPUS: dict[str, tuple[Any, dict[str, Any] | None, str]] = {
    "random bytes": (bytes(range(256)).decode("latin-1"), None, "MalformedMessage"),
    "invalid UTF-8 (lone surrogates)": ("\udcff\udcfe{", None, "MalformedMessage"),
    "empty body": ("", None, "MalformedMessage"),
    "huge body": ("x" * 200_000, None, "MalformedMessage"),
    "deeply nested JSON": ("[" * 100_000 + "]" * 100_000, None, "MalformedMessage"),
    "JSON scalar": ("42", None, "MalformedMessage"),
    "JSON array": ("[1, 2, 3]", None, "MalformedMessage"),
    "envelope task not a string": (envelope(task=5), None, "MalformedMessage"),  # type: ignore[arg-type]
    "envelope key not a string": (envelope(key=[1]), None, "MalformedMessage"),
    "envelope without payload": (json.dumps({"v": 1, "task": "echo"}), None, "MalformedMessage"),
    "envelope sent_at not a string": (envelope(sent_at=7), None, "MalformedMessage"),
    "version as string": (envelope(v="1"), None, "MalformedMessage"),
    "version as bool": (envelope(v=True), None, "MalformedMessage"),
    "unknown version": (envelope(v=2), None, "UnsupportedVersion"),
    "unknown task": (envelope(task="rm_rf"), None, "UnknownTask"),
    "idempotency key missing from payload": (envelope(task="order"), None, "MissingIdempotencyKey"),
    "pointer with extra field": (
        pointer({"s3BucketName": "tayori", "s3Key": "k", "x": 1}),
        SIZE,
        "MalformedMessage",
    ),
    "pointer missing s3Key": (pointer({"s3BucketName": "tayori"}), SIZE, "MalformedMessage"),
    "pointer to a missing blob": (
        pointer({"s3BucketName": "tayori", "s3Key": "tayori/gone"}),
        SIZE,
        "MissingBlob",
    ),
    "pointer to a disallowed bucket": (
        pointer({"s3BucketName": "someone-else", "s3Key": "k"}),
        SIZE,
        "BucketNotAllowed",
    ),
    "pointer key with ../": (
        pointer({"s3BucketName": "tayori", "s3Key": "../../queues.db"}),
        SIZE,
        "MalformedMessage",
    ),
    "pointer with an absolute key": (
        pointer({"s3BucketName": "tayori", "s3Key": "/etc/passwd"}),
        SIZE,
        "MalformedMessage",
    ),
    "size attribute on a plain body": (envelope(), SIZE, "MalformedMessage"),
    "binary attribute that is not base64": (
        envelope(),
        {"a": {"binaryValue": "abc", "dataType": "Binary"}},
        "MalformedMessage",
    ),
    "messageAttributes not an object": (envelope(), ["x"], "MalformedMessage"),  # type: ignore[dict-item]
    "attribute entry not an object": (envelope(), {"a": "x"}, "MalformedMessage"),
    "oversized attribute value with a bad body": (
        "not json",
        {"big": {"stringValue": "v" * 250_000, "dataType": "String"}},
        "MalformedMessage",
    ),
}


@pytest.mark.parametrize("kind", list(CORPUS))
def test_each_kind_ends_in_the_dlq_with_its_reason(app: tayori.App, kind: str) -> None:
    body, attrs, error_type = CORPUS[kind]
    rec = record(app, body, attrs)
    response = app.lambda_handler({"Records": [rec]})
    assert response == {"batchItemFailures": []}, kind
    letters = dead_letters(app)
    assert len(letters) == 1, kind
    assert letters[0][0] == error_type, (kind, letters)
    assert letters[0][1], "the reason is never empty"
    assert app.ran == []  # type: ignore[attr-defined]
    assert app.handler.counters.dead_lettered == 1


@pytest.mark.parametrize(
    "kind, body, attrs",
    [
        ("record without messageId", None, "messageId"),
        ("record without receiptHandle", None, "receiptHandle"),
        ("record body not a string", {"a": 1}, None),
    ],
)
def test_records_that_cannot_be_reported_are_kept_in_the_dlq(
    app: tayori.App, kind: str, body: Any, attrs: str | None
) -> None:
    rec = record(app, envelope())
    if attrs:
        del rec[attrs]
    if body is not None:
        rec["body"] = body
    good = record(app, envelope())
    response = app.lambda_handler({"Records": [rec, good]})
    assert response == {"batchItemFailures": []}
    assert [t for t, _ in dead_letters(app)] == ["MalformedMessage"], kind
    assert len(app.ran) == 1  # type: ignore[attr-defined]  # the good record still ran


@pytest.mark.parametrize(
    "event", [{}, {"Records": "x"}, {"Records": None}, [], "event", None, {"records": []}]
)
def test_a_malformed_lambda_event_is_refused_clearly(app: tayori.App, event: Any) -> None:
    with pytest.raises(MalformedEvent):
        app.lambda_handler(event)


def test_records_that_are_not_objects_do_not_crash(app: tayori.App) -> None:
    good = record(app, envelope())
    assert app.lambda_handler({"Records": ["junk", 7, None, good]}) == {"batchItemFailures": []}
    assert len(app.ran) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body, attributes, error",
    [
        ("", {}, InvalidParameterValue),
        ("a\x00b", {}, InvalidParameterValue),
        ("\udcff", {}, InvalidParameterValue),
        ("ok", {"big": Attribute.string("v" * 300_000)}, MessageTooLong),
        ("ok", {f"a{i}": Attribute.string("v") for i in range(11)}, InvalidParameterValue),
        ("ok", {"AWS.trace": Attribute.string("v")}, InvalidParameterValue),
        ("ok", {"n": Attribute("Number", "NaN-ish")}, InvalidParameterValue),
        ("ok", {"e": Attribute.string("")}, InvalidParameterValue),
    ],
)
def test_what_sqs_would_refuse_is_rejected_before_enqueue(
    app: tayori.App, body: str, attributes: dict[str, Attribute], error: type[QueueError]
) -> None:
    queue = app.queue("jobs")
    with pytest.raises(error):
        queue.send(body, attributes)
    assert queue.stats().total == 0


def test_unserialisable_payloads_are_rejected_before_enqueue(app: tayori.App) -> None:
    with pytest.raises(InvalidParameterValue):
        app.tasks["echo"].send({"x": object()})
    with pytest.raises(InvalidParameterValue):
        app.tasks["echo"].send({"x": float("nan")})
    assert app.queue("jobs").stats().total == 0


# ---------------------------------------------------------------------- fuzz

ATTR_TYPES = st.sampled_from(["String", "Number", "Binary", "String.json", "Weird", ""])
ATTRIBUTE = st.fixed_dictionaries(
    {"dataType": ATTR_TYPES},
    optional={
        "stringValue": st.one_of(st.text(max_size=50), st.integers(), st.none()),
        "binaryValue": st.one_of(st.text(max_size=20), st.none()),
    },
)
BODY = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.builds(
        lambda v, t, k, p: json.dumps({"v": v, "task": t, "key": k, "payload": p}),
        st.one_of(st.just(1), st.integers(), st.text(max_size=3)),
        st.one_of(st.sampled_from(["echo", "order"]), st.text(max_size=8)),
        st.one_of(st.none(), st.text(max_size=10), st.integers()),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
    ),
    st.builds(
        lambda b, k: pointer({"s3BucketName": b, "s3Key": k}),
        st.sampled_from(["tayori", "other", ""]),
        st.text(max_size=30),
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bodies=st.lists(BODY, min_size=1, max_size=4),
    attrs=st.dictionaries(st.text(min_size=1, max_size=12), ATTRIBUTE, max_size=4),
)
def test_fuzz_every_record_succeeds_retries_or_is_dead_lettered(
    app: tayori.App, bodies: list[str], attrs: dict[str, Any]
) -> None:
    records = [record(app, b, attrs) for b in bodies]
    before = app.handler.counters.snapshot()
    response = app.lambda_handler({"Records": records})  # never raises for an SQS event
    after = app.handler.counters.snapshot()
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed <= {r["messageId"] for r in records}
    moved = {k: after[k] - before[k] for k in ("succeeded", "failed", "dead_lettered")}
    assert moved["failed"] == len(failed)
    assert sum(moved.values()) == len(records), (moved, len(records))


def test_a_failed_redrive_policy_read_is_not_remembered(
    app: tayori.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A throttled spec() read once must not leave the queue without a DLQ for good."""
    queue = app.queue("jobs")
    real = type(queue).spec
    calls = {"n": 0}

    def flaky(self: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:  # both reads of the first record
            raise QueueError("throttled", code="ThrottlingException")
        return real(self)

    monkeypatch.setattr(type(queue), "spec", flaky)
    first = app.lambda_handler({"Records": [record(app, "not json")]})
    assert len(first["batchItemFailures"]) == 1  # no DLQ known yet: retried, not lost
    second = app.lambda_handler({"Records": [record(app, "not json")]})
    assert second == {"batchItemFailures": []}
    assert [t for t, _ in dead_letters(app)] == ["MalformedMessage"]
