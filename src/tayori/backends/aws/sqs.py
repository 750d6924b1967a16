"""An SQS standard queue behind the :class:`~tayori.backends.base.Queue` protocol.

Input is validated by ``BaseQueue`` (the same rules as the embedded queue) before any
call, so both backends refuse bad input with the same error class; what only SQS can decide
(stale receipt handles, purge interval, missing queues) is mapped from its error code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from tayori.backends.aws.errors import sqs_error
from tayori.backends.base import (
    BaseQueue,
    BatchResult,
    EntryFailure,
    EntryResult,
    HandleEntry,
    QueueMessage,
    QueueSpec,
    QueueStats,
    RedrivePolicy,
    SendEntry,
)
from tayori.wire.sqs import DEFAULT_MAX_MESSAGE_SIZE, Attribute, Attributes, md5_of_body

_STATS = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def queue_arn(url: str, region: str) -> str:
    """ARN from a queue URL (``.../<account>/<name>``) without a call to SQS."""
    parts = urlparse(url).path.strip("/").split("/")
    account, name = parts[-2], parts[-1]
    partition = (
        "aws-cn"
        if region.startswith("cn-")
        else ("aws-us-gov" if region.startswith("us-gov-") else "aws")
    )
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def to_sqs_attributes(attributes: Attributes) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, attr in attributes.items():
        if attr.base_type == "Binary":
            raw = attr.value if isinstance(attr.value, bytes) else attr.value.encode("utf-8")
            out[name] = {"DataType": attr.data_type, "BinaryValue": raw}
        else:
            value = attr.value.decode("utf-8") if isinstance(attr.value, bytes) else attr.value
            out[name] = {"DataType": attr.data_type, "StringValue": value}
    return out


def from_sqs_attributes(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, Attribute]:
    out: dict[str, Attribute] = {}
    for name, value in raw.items():
        data_type = str(value.get("DataType", "String"))
        if data_type.split(".", 1)[0] == "Binary":
            out[name] = Attribute(data_type, bytes(value.get("BinaryValue") or b""))
        else:
            out[name] = Attribute(data_type, str(value.get("StringValue", "")))
    return out


def spec_from_attributes(attrs: Mapping[str, str]) -> QueueSpec:
    redrive = None
    if attrs.get("RedrivePolicy"):
        policy = json.loads(attrs["RedrivePolicy"])
        redrive = RedrivePolicy(
            dead_letter_queue=str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1],
            max_receive_count=int(policy["maxReceiveCount"]),
        )
    return QueueSpec(
        visibility_timeout=int(attrs.get("VisibilityTimeout", 30)),
        retention_seconds=int(attrs.get("MessageRetentionPeriod", 345_600)),
        max_message_size=int(attrs.get("MaximumMessageSize", DEFAULT_MAX_MESSAGE_SIZE)),
        delay_seconds=int(attrs.get("DelaySeconds", 0)),
        redrive=redrive,
    )


class SqsQueue(BaseQueue):
    """One SQS queue; the boto3 client is the backend's, shared by every queue."""

    def __init__(self, client: Any, name: str, url: str, region: str) -> None:
        self._client = client
        self.name = name
        self.url = url
        self.arn = queue_arn(url, region)
        self._spec: QueueSpec | None = None

    def __repr__(self) -> str:
        return f"SqsQueue({self.name!r})"

    def _call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self._client, op)(QueueUrl=self.url, **kwargs)
        except Exception as exc:
            if type(exc).__module__.startswith(("botocore", "boto3")):
                raise sqs_error(exc, f"{op} on queue {self.name!r}") from None
            raise

    # ------------------------------------------------------------------ config

    def spec(self) -> QueueSpec:
        """Read from the queue's attributes (fresh) and cache for sends."""
        attrs = self._call("get_queue_attributes", AttributeNames=["All"]).get("Attributes", {})
        self._spec = spec_from_attributes(attrs)
        return self._spec

    def _cached_spec(self) -> QueueSpec:
        return self._spec if self._spec is not None else self.spec()

    # ------------------------------------------------------------------ send

    def _send(self, entry: SendEntry) -> str:
        kwargs: dict[str, Any] = {"MessageBody": entry.body}
        if entry.delay_seconds:  # 0 = the queue's own DelaySeconds, as in the embedded queue
            kwargs["DelaySeconds"] = entry.delay_seconds
        if entry.attributes:
            kwargs["MessageAttributes"] = to_sqs_attributes(entry.attributes)
        return str(self._call("send_message", **kwargs)["MessageId"])

    def _send_batch(self, entries: Sequence[SendEntry]) -> BatchResult:
        wire: list[dict[str, Any]] = []
        for entry in entries:
            item: dict[str, Any] = {"Id": entry.id, "MessageBody": entry.body}
            if entry.delay_seconds:
                item["DelaySeconds"] = entry.delay_seconds
            if entry.attributes:
                item["MessageAttributes"] = to_sqs_attributes(entry.attributes)
            wire.append(item)
        return self._batch("send_message_batch", wire, lambda r: r["MessageId"])

    # ------------------------------------------------------------------ receive

    def _receive(
        self, max_messages: int, wait_seconds: int, visibility_timeout: int | None
    ) -> list[QueueMessage]:
        kwargs: dict[str, Any] = {
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = visibility_timeout
        resp = self._call("receive_message", **kwargs)
        return [_to_message(m) for m in resp.get("Messages", [])]

    # ------------------------------------------------------------------ delete / visibility

    def _delete(self, receipt_handle: str) -> None:
        self._call("delete_message", ReceiptHandle=receipt_handle)

    def _delete_batch(self, entries: Sequence[HandleEntry]) -> BatchResult:
        wire = [{"Id": e.id, "ReceiptHandle": e.receipt_handle} for e in entries]
        return self._batch("delete_message_batch", wire)

    def _change_visibility(self, receipt_handle: str, visibility_timeout: int) -> None:
        self._call(
            "change_message_visibility",
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=visibility_timeout,
        )

    def _change_visibility_batch(self, entries: Sequence[HandleEntry]) -> BatchResult:
        wire = [
            {
                "Id": e.id,
                "ReceiptHandle": e.receipt_handle,
                "VisibilityTimeout": e.visibility_timeout,
            }
            for e in entries
        ]
        return self._batch("change_message_visibility_batch", wire)

    def _batch(self, op: str, wire: list[dict[str, Any]], message_id: Any = None) -> BatchResult:
        resp = self._call(op, Entries=wire)
        ok = tuple(
            EntryResult(r["Id"], message_id(r) if message_id else None)
            for r in resp.get("Successful", [])
        )
        return BatchResult(ok, tuple(_failures(resp)))

    # ------------------------------------------------------------------ admin

    def _purge(self) -> None:
        self._call("purge_queue")

    def stats(self) -> QueueStats:
        attrs = self._call("get_queue_attributes", AttributeNames=_STATS).get("Attributes", {})
        return QueueStats(
            visible=int(attrs.get(_STATS[0], 0)),
            in_flight=int(attrs.get(_STATS[1], 0)),
            delayed=int(attrs.get(_STATS[2], 0)),
        )


def _failures(resp: Mapping[str, Any]) -> list[EntryFailure]:
    from tayori.backends.aws.errors import short_code

    return [
        EntryFailure(
            f["Id"],
            short_code(str(f.get("Code", "Unknown"))),
            str(f.get("Message", "")),
            bool(f.get("SenderFault", True)),
        )
        for f in resp.get("Failed", [])
    ]


def _to_message(raw: Mapping[str, Any]) -> QueueMessage:
    system = raw.get("Attributes", {})
    sent = int(system.get("SentTimestamp", 0))
    body = str(raw.get("Body", ""))
    return QueueMessage(
        message_id=str(raw["MessageId"]),
        receipt_handle=str(raw["ReceiptHandle"]),
        body=body,
        attributes=from_sqs_attributes(raw.get("MessageAttributes", {})),
        receive_count=int(system.get("ApproximateReceiveCount", 1)),
        sent_timestamp_ms=sent,
        first_receive_timestamp_ms=int(system.get("ApproximateFirstReceiveTimestamp", sent)),
        md5_of_body=str(raw.get("MD5OfBody") or md5_of_body(body)),
    )
