"""Envelope wire format and its one-line errors."""

from __future__ import annotations

import json

import pytest

from tayori.errors import InvalidParameterValue, MalformedMessage, UnsupportedVersion
from tayori.wire.envelope import Envelope


def test_round_trip_and_wire_shape() -> None:
    env = Envelope.new("notify", {"order_id": 1, "名前": "花子"})
    data = json.loads(env.to_json())
    assert set(data) == {"v", "task", "key", "payload", "sent_at"}
    assert data["v"] == 1 and data["task"] == "notify" and len(data["key"]) == 36
    assert data["sent_at"].endswith("Z")
    assert Envelope.parse(env.to_json()) == env


def test_given_key_is_kept() -> None:
    assert Envelope.new("t", {}, key="b1:alice").key == "b1:alice"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json", MalformedMessage),
        ("[1, 2]", MalformedMessage),
        ('{"v": 1, "task": "t"}', MalformedMessage),
        ('{"v": "1", "task": "t", "payload": 1}', MalformedMessage),
        ('{"v": true, "task": "t", "payload": 1}', MalformedMessage),
        ('{"v": 2, "task": "t", "payload": 1}', UnsupportedVersion),
        ('{"v": 1, "task": "", "payload": 1}', MalformedMessage),
        ('{"v": 1, "task": 5, "payload": 1}', MalformedMessage),
        ('{"v": 1, "task": "t", "key": 5, "payload": 1}', MalformedMessage),
        ("[" * 100_000 + "]" * 100_000, MalformedMessage),
    ],
)
def test_bad_bodies_raise_one_clear_error(body: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        Envelope.parse(body)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_payload_that_is_not_json_is_refused_at_the_producer() -> None:
    with pytest.raises(InvalidParameterValue, match="not JSON-serialisable"):
        Envelope.new("t", {"when": object()}).to_json()
    with pytest.raises(InvalidParameterValue):
        Envelope.new("t", {"x": float("nan")}).to_json()
