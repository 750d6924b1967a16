"""An SQS standard queue behind the :class:`~tayori.backends.base.Queue` protocol.

Input is validated with the same helpers as the embedded queue before any call, so
both backends refuse bad input with the same error class; what only SQS can decide
(stale receipt handles, purge interval, missing queues) is mapped from its error code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from tayori.backends.aws.errors import sqs_error
from tayori.backends.base import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_BATCH_ENTRIES,
    MAX_VISIBILITY_TIMEOUT,
    MAX_WAIT_SECONDS,
    Attribute,
    Attributes,
    BatchResult,
    EntryFailure,
    EntryResult,
    HandleEntry,
    Message,
    QueueSpec,
    QueueStats,
    RedrivePolicy,
    SendEntry,
    check_batch_ids,
    check_message,
    check_range,
    check_send_batch,
    md5_of_body,
)
from tayori.errors import QueueError, ReceiptHandleIsInvalid

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


class SqsQueue:
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

    def send(self, body: str, attributes: Attributes | None = None, delay_seconds: int = 0) -> str:
        check_message(body, attributes, delay_seconds, self._cached_spec().max_message_size)
        kwargs: dict[str, Any] = {"MessageBody": body}
        if delay_seconds:  # 0 = the queue's own DelaySeconds, as in the embedded queue
            kwargs["DelaySeconds"] = delay_seconds
        if attributes:
            kwargs["MessageAttributes"] = to_sqs_attributes(attributes)
        return str(self._call("send_message", **kwargs)["MessageId"])

    def send_batch(self, entries: Sequence[SendEntry]) -> BatchResult:
        """Per-entry results; entries that fail local validation never reach SQS."""
        limit = self._cached_spec().max_message_size
        check_send_batch(entries, limit)
        failed: list[EntryFailure] = []
        wire: list[dict[str, Any]] = []
        for entry in entries:
            try:
                check_message(entry.body, entry.attributes, entry.delay_seconds, limit)
            except QueueError as exc:
                failed.append(EntryFailure(entry.id, exc.code, str(exc)))
                continue
            item: dict[str, Any] = {"Id": entry.id, "MessageBody": entry.body}
            if entry.delay_seconds:
                item["DelaySeconds"] = entry.delay_seconds
            if entry.attributes:
                item["MessageAttributes"] = to_sqs_attributes(entry.attributes)
            wire.append(item)
        ok: list[EntryResult] = []
        if wire:
            resp = self._call("send_message_batch", Entries=wire)
            ok = [EntryResult(r["Id"], r["MessageId"]) for r in resp.get("Successful", [])]
            failed.extend(_failures(resp))
        return _ordered(entries, ok, failed)

    # ------------------------------------------------------------------ receive

    def receive(
        self,
        max_messages: int = 1,
        wait_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> list[Message]:
        check_range("MaxNumberOfMessages", max_messages, 1, MAX_BATCH_ENTRIES)
        check_range("WaitTimeSeconds", wait_seconds, 0, MAX_WAIT_SECONDS)
        kwargs: dict[str, Any] = {
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if visibility_timeout is not None:
            check_range("VisibilityTimeout", visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
            kwargs["VisibilityTimeout"] = visibility_timeout
        resp = self._call("receive_message", **kwargs)
        return [_to_message(m) for m in resp.get("Messages", [])]

    # ------------------------------------------------------------------ delete / visibility

    def delete(self, receipt_handle: str) -> None:
        _check_handle(receipt_handle)
        self._call("delete_message", ReceiptHandle=receipt_handle)

    def delete_batch(self, entries: Sequence[HandleEntry]) -> BatchResult:
        check_batch_ids([e.id for e in entries])
        failed: list[EntryFailure] = []
        wire: list[dict[str, Any]] = []
        for entry in entries:
            try:
                _check_handle(entry.receipt_handle)
            except QueueError as exc:
                failed.append(EntryFailure(entry.id, exc.code, str(exc)))
            else:
                wire.append({"Id": entry.id, "ReceiptHandle": entry.receipt_handle})
        ok: list[EntryResult] = []
        if wire:
            resp = self._call("delete_message_batch", Entries=wire)
            ok = [EntryResult(r["Id"]) for r in resp.get("Successful", [])]
            failed.extend(_failures(resp))
        return _ordered(entries, ok, failed)

    def change_visibility(self, receipt_handle: str, visibility_timeout: int) -> None:
        check_range("VisibilityTimeout", visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
        _check_handle(receipt_handle)
        self._call(
            "change_message_visibility",
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=visibility_timeout,
        )

    def change_visibility_batch(self, entries: Sequence[HandleEntry]) -> BatchResult:
        check_batch_ids([e.id for e in entries])
        failed: list[EntryFailure] = []
        wire: list[dict[str, Any]] = []
        for entry in entries:
            try:
                check_range(
                    "VisibilityTimeout", entry.visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT
                )
                _check_handle(entry.receipt_handle)
            except QueueError as exc:
                failed.append(EntryFailure(entry.id, exc.code, str(exc)))
            else:
                wire.append(
                    {
                        "Id": entry.id,
                        "ReceiptHandle": entry.receipt_handle,
                        "VisibilityTimeout": entry.visibility_timeout,
                    }
                )
        ok: list[EntryResult] = []
        if wire:
            resp = self._call("change_message_visibility_batch", Entries=wire)
            ok = [EntryResult(r["Id"]) for r in resp.get("Successful", [])]
            failed.extend(_failures(resp))
        return _ordered(entries, ok, failed)

    # ------------------------------------------------------------------ admin

    def purge(self) -> None:
        self._call("purge_queue")

    def stats(self) -> QueueStats:
        attrs = self._call("get_queue_attributes", AttributeNames=_STATS).get("Attributes", {})
        return QueueStats(
            visible=int(attrs.get(_STATS[0], 0)),
            in_flight=int(attrs.get(_STATS[1], 0)),
            delayed=int(attrs.get(_STATS[2], 0)),
        )


def _check_handle(receipt_handle: str) -> None:
    if not isinstance(receipt_handle, str) or not receipt_handle.strip():
        raise ReceiptHandleIsInvalid(f"receipt handle {str(receipt_handle)[:40]!r} is not valid")


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


def _ordered(
    entries: Sequence[Any], ok: list[EntryResult], failed: list[EntryFailure]
) -> BatchResult:
    """Results in the order of the request, like the embedded backend's."""
    pos = {e.id: i for i, e in enumerate(entries)}
    return BatchResult(
        tuple(sorted(ok, key=lambda r: pos.get(r.id, 0))),
        tuple(sorted(failed, key=lambda f: pos.get(f.id, 0))),
    )


def _to_message(raw: Mapping[str, Any]) -> Message:
    system = raw.get("Attributes", {})
    sent = int(system.get("SentTimestamp", 0))
    body = str(raw.get("Body", ""))
    return Message(
        message_id=str(raw["MessageId"]),
        receipt_handle=str(raw["ReceiptHandle"]),
        body=body,
        attributes=from_sqs_attributes(raw.get("MessageAttributes", {})),
        receive_count=int(system.get("ApproximateReceiveCount", 1)),
        sent_timestamp_ms=sent,
        first_receive_timestamp_ms=int(system.get("ApproximateFirstReceiveTimestamp", sent)),
        md5_of_body=str(raw.get("MD5OfBody") or md5_of_body(body)),
    )
