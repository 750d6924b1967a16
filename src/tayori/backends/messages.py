"""The values that cross the queue boundary: batch entries and results, received
messages, queue specs and stats (frozen: a message never changes after a receive)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tayori.wire.sqs import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_RETENTION_SECONDS,
    DEFAULT_VISIBILITY_TIMEOUT,
    MAX_DELAY_SECONDS,
    MAX_MESSAGE_SIZE,
    MAX_RECEIVE_COUNT,
    MAX_RETENTION_SECONDS,
    MAX_VISIBILITY_TIMEOUT,
    MIN_MESSAGE_SIZE_LIMIT,
    MIN_RETENTION_SECONDS,
    Attributes,
    check_queue_name,
    check_range,
)


@dataclass(frozen=True, slots=True)
class SendEntry:
    """One entry of a batch send. ``id`` is unique within the batch."""

    id: str
    body: str
    attributes: Attributes = field(default_factory=dict)
    delay_seconds: int = 0


@dataclass(frozen=True, slots=True)
class EntryResult:
    """One succeeded entry of a batch call (``message_id`` is set for sends)."""

    id: str
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class EntryFailure:
    id: str
    code: str
    message: str
    sender_fault: bool = True


@dataclass(frozen=True, slots=True)
class BatchResult:
    successful: tuple[EntryResult, ...] = ()
    failed: tuple[EntryFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class HandleEntry:
    """One entry of delete-batch / change-visibility-batch."""

    id: str
    receipt_handle: str
    visibility_timeout: int = 0


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """A received message, as SQS hands it to a consumer (not an email: see ``tayori.mail``)."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: Attributes
    receive_count: int
    sent_timestamp_ms: int
    first_receive_timestamp_ms: int
    md5_of_body: str

    def to_lambda_record(self, queue_arn: str, region: str) -> dict[str, Any]:
        """The record shape the Lambda SQS event source mapping delivers."""
        return {
            "messageId": self.message_id,
            "receiptHandle": self.receipt_handle,
            "body": self.body,
            "attributes": {
                "ApproximateReceiveCount": str(self.receive_count),
                "SentTimestamp": str(self.sent_timestamp_ms),
                "SenderId": "tayori",
                "ApproximateFirstReceiveTimestamp": str(self.first_receive_timestamp_ms),
            },
            "messageAttributes": {k: v.to_lambda() for k, v in self.attributes.items()},
            "md5OfBody": self.md5_of_body,
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    dead_letter_queue: str
    max_receive_count: int


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """What a queue is created with (the embedded backend stores it; AWS maps it)."""

    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    retention_seconds: int = DEFAULT_RETENTION_SECONDS
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    delay_seconds: int = 0
    redrive: RedrivePolicy | None = None

    def __post_init__(self) -> None:
        check_range("VisibilityTimeout", self.visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
        check_range(
            "MessageRetentionPeriod",
            self.retention_seconds,
            MIN_RETENTION_SECONDS,
            MAX_RETENTION_SECONDS,
        )
        check_range(
            "MaximumMessageSize", self.max_message_size, MIN_MESSAGE_SIZE_LIMIT, MAX_MESSAGE_SIZE
        )
        check_range("DelaySeconds", self.delay_seconds, 0, MAX_DELAY_SECONDS)
        if self.redrive is not None:
            check_queue_name(self.redrive.dead_letter_queue)
            check_range("maxReceiveCount", self.redrive.max_receive_count, 1, MAX_RECEIVE_COUNT)


@dataclass(frozen=True, slots=True)
class QueueStats:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed
