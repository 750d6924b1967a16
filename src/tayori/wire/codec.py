"""The codec boundary: a task call to an SQS message and back.

``TayoriCodec`` writes and reads tayori's envelope (with the claim-check for big
bodies). Other message formats (Celery's) implement the same small protocol, so the
producer and the handler never know which format is on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tayori.wire.claimcheck import ClaimCheck, Pointer
from tayori.wire.envelope import Envelope
from tayori.wire.jsonvalue import Encoder
from tayori.wire.sqs import MAX_DELAY_SECONDS, Attribute, Attributes, check_range, message_size


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message ready for ``Queue.send`` / ``send_batch``."""

    body: str
    attributes: dict[str, Attribute] = field(default_factory=dict)
    delay_seconds: int = 0

    @property
    def size(self) -> int:
        return message_size(self.body, self.attributes)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A received message, decoded: the task call, and the blob to delete after success."""

    envelope: Envelope
    pointer: Pointer | None = None


class Codec(Protocol):
    def encode(self, envelope: Envelope, delay_seconds: int = 0) -> Outgoing: ...

    def decode(self, body: str, attributes: Attributes) -> Incoming:
        """Raise a ``BadMessage`` (dead-lettered with the reason) for what it cannot read."""
        ...

    def release(self, incoming: Incoming) -> None:
        """After the task succeeded: drop what the message kept outside the queue."""
        ...


class TayoriCodec:
    """tayori's envelope, with bodies over the threshold moved to the blob store."""

    def __init__(self, claim_check: ClaimCheck, encoder: Encoder | None = None) -> None:
        self.claim_check = claim_check
        self.encoder = encoder  # for call arguments (v2); None: kombu's tagged JSON

    def encode(self, envelope: Envelope, delay_seconds: int = 0) -> Outgoing:
        # the one check the queue cannot make before the blob is stored
        check_range("DelaySeconds", delay_seconds, 0, MAX_DELAY_SECONDS)
        body, attributes = self.claim_check.offload(envelope.to_json(self.encoder), {})
        return Outgoing(body, attributes, delay_seconds)

    def decode(self, body: str, attributes: Attributes) -> Incoming:
        body, pointer = self.claim_check.resolve(body, attributes)
        return Incoming(Envelope.parse(body), pointer)

    def release(self, incoming: Incoming) -> None:
        if incoming.pointer is not None:
            self.claim_check.delete(incoming.pointer)
