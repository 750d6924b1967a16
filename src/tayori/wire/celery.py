"""Celery's message format as a second codec: what an unchanged Celery 5 app sends to SQS.

kombu's SQS transport writes the SQS body as base64 of a JSON kombu message::

    {"body": "<base64 of [args, kwargs, embed]>", "content-type": "application/json",
     "content-encoding": "utf-8", "headers": {"task", "id", "retries", "eta", "expires",
     ... Celery task protocol 2}, "properties": {"body_encoding": "base64", ...}}

Read: task protocol 2 with the JSON serializer (kombu's tagged types revive). Refused
with a reason that says why, never executed: the pickle serializer (unpickling a
queue message runs code of the sender's choosing), yaml / msgpack, task protocol 1.
Written back (a retry copy, a re-delayed hop): the same message with ``retries`` /
``eta`` updated, so a Celery worker could still read it.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from tayori.errors import MalformedMessage, UnsupportedFormat
from tayori.wire import jsonvalue
from tayori.wire.claimcheck import ClaimCheck
from tayori.wire.codec import Incoming, Outgoing
from tayori.wire.envelope import VERSION_CALL, Envelope, parse_time
from tayori.wire.sqs import MAX_DELAY_SECONDS, Attributes, check_range

JSON = "application/json"
_REFUSED = {
    "application/x-python-serialize": (
        "the pickle serializer is not read by tayori: unpickling a queue message runs "
        "code of the sender's choosing; set task_serializer = 'json'"
    ),
    "application/x-yaml": "the yaml serializer is not read by tayori; use json",
    "application/x-msgpack": "the msgpack serializer is not read by tayori; use json",
}


class CeleryCodec:
    """Celery task protocol 2 + JSON over kombu's SQS transport."""

    def __init__(self, claim_check: ClaimCheck | None = None) -> None:
        self.claim_check = claim_check

    # ------------------------------------------------------------------ read

    def decode(self, body: str, attributes: Attributes) -> Incoming:
        pointer = None
        if self.claim_check is not None:
            body, pointer = self.claim_check.resolve(body, attributes)
        message = _kombu_message(body)
        ctype = str(message.get("content-type") or "")
        if ctype in _REFUSED:
            raise UnsupportedFormat(f"Celery message with {ctype}: {_REFUSED[ctype]}")
        if ctype != JSON:
            raise UnsupportedFormat(f"Celery message content-type {ctype!r:.60} is not JSON")
        payload = _payload(message)
        headers = message.get("headers") or {}
        if not isinstance(headers, dict) or "task" not in headers:
            if isinstance(payload, dict) and "task" in payload:
                raise UnsupportedFormat(
                    "Celery task protocol 1 is not read by tayori; set task_protocol = 2 "
                    "(the default since Celery 4)"
                )
            raise MalformedMessage("Celery message has no task header")
        if not (isinstance(payload, list) and len(payload) == 3):
            raise MalformedMessage("Celery protocol 2 body must be [args, kwargs, embed]")
        args, kwargs, embed = payload
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise MalformedMessage("Celery body args must be a list and kwargs an object")
        envelope = Envelope(
            task=_text(headers.get("task"), "task"),
            payload=None,
            key=_text(headers.get("id"), "id"),
            sent_at="",
            v=VERSION_CALL,
            args=tuple(args),
            kwargs=kwargs,
            retries=_retries(headers.get("retries")),
            eta=_optional_time(headers.get("eta")),
            expires=_optional_time(headers.get("expires")),
            extra={"message": message, "embed": embed},
        )
        return Incoming(envelope, pointer)

    def release(self, incoming: Incoming) -> None:
        if incoming.pointer is not None and self.claim_check is not None:
            self.claim_check.delete(incoming.pointer)

    # ------------------------------------------------------------------ write

    def encode(self, envelope: Envelope, delay_seconds: int = 0) -> Outgoing:
        check_range("DelaySeconds", delay_seconds, 0, MAX_DELAY_SECONDS)
        extra = envelope.extra or {}
        message = dict(extra.get("message") or _new_message(envelope))
        headers = {
            **dict(message.get("headers") or {}),
            "task": envelope.task,
            "id": envelope.key,
            "retries": envelope.retries,
            "eta": envelope.eta,
            "expires": envelope.expires,
        }
        body = jsonvalue.dumps(
            [list(envelope.args or ()), dict(envelope.kwargs or {}), extra.get("embed") or {}]
        )
        properties = {
            **dict(message.get("properties") or {}),
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        }
        message.update(
            body=base64.b64encode(body.encode("utf-8")).decode("ascii"),
            headers=headers,
            properties=properties,
        )
        message["content-type"] = JSON
        message["content-encoding"] = "utf-8"
        outer = json.dumps(message, ensure_ascii=False)
        return Outgoing(base64.b64encode(outer.encode("utf-8")).decode("ascii"), {}, delay_seconds)


def _kombu_message(body: str) -> dict[str, Any]:
    """The kombu message from an SQS body: base64 JSON (kombu's default) or plain JSON."""
    text = body.strip()
    if not text.startswith("{"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise MalformedMessage(
                "body is neither JSON nor base64 (not a Celery message)"
            ) from None
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedMessage(f"Celery message is not JSON: {str(exc)[:120]}") from None
    if not isinstance(message, dict) or "body" not in message:
        raise MalformedMessage("not a kombu message (no body field)")
    return message


def _payload(message: dict[str, Any]) -> Any:
    raw = message.get("body")
    properties = message.get("properties") or {}
    encoding = properties.get("body_encoding") if isinstance(properties, dict) else None
    if not isinstance(raw, str):
        raise MalformedMessage("kombu message body is not a string")
    if encoding == "base64":
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedMessage("kombu body_encoding is base64 but the body is not") from None
    else:
        data = raw.encode("utf-8")
    charset = str(message.get("content-encoding") or "utf-8")
    try:
        return jsonvalue.loads(data.decode(charset))
    except (LookupError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedMessage(f"Celery body is not {charset} JSON: {str(exc)[:120]}") from None


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"Celery header {name} must be a non-empty string")
    return value


def _retries(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedMessage("Celery header retries must be a non-negative integer")
    return value


def _optional_time(value: Any) -> str | None:
    if value is None:
        return None
    try:
        parse_time(value)
    except (TypeError, ValueError):
        raise MalformedMessage(f"Celery time header {value!r:.40} is not ISO-8601") from None
    return str(value)


def _new_message(envelope: Envelope) -> dict[str, Any]:
    """A protocol 2 message for a call that did not come from Celery."""
    return {
        "headers": {"lang": "py", "root_id": envelope.key, "parent_id": None, "group": None},
        "properties": {
            "correlation_id": envelope.key,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": ""},
            "priority": 0,
        },
    }
