"""Reading the fields of one Lambda SQS record defensively (anyone can build an event)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tayori.wire.sqs import Attribute


def record_problem(raw: Any) -> str | None:
    """Why this record cannot be handled (or reported) by id, or None."""
    if not isinstance(raw, dict):
        return f"record is {type(raw).__name__}, not an object"
    for name in ("messageId", "receiptHandle"):
        if not isinstance(raw.get(name), str) or not raw[name]:
            return f"record lacks {name}"
    if not isinstance(raw.get("body"), str):
        return "record body is not a string"
    if not isinstance(raw.get("eventSourceARN", ""), str):
        return "record eventSourceARN is not a string"
    return None


def queue_name_of(raw: Mapping[str, Any]) -> str:
    arn = raw.get("eventSourceARN") or ""
    return str(arn).rsplit(":", 1)[-1]


def receive_count_of(raw: Mapping[str, Any]) -> int:
    try:
        return int((raw.get("attributes") or {}).get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        return 1


def attributes_of(raw: Mapping[str, Any]) -> dict[str, Attribute]:
    attrs = raw.get("messageAttributes") or {}
    if not isinstance(attrs, Mapping):
        raise TypeError("messageAttributes is not an object")
    return {str(k): Attribute.from_lambda(v) for k, v in attrs.items()}
