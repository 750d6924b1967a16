"""Dead-lettering from the handler: the original body and attributes, plus the reason,
to the source queue's DLQ; then the source copy is deleted.

A dead letter never loses its body: when the DLQ refuses it (over the DLQ's size
limit, or attributes SQS forbids), the body goes to the blob store and the DLQ gets a
claim-check pointer instead, which redrive and the handler read like any other.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from tayori.consumer.queues import QueueDirectory
from tayori.errors import InvalidParameterValue, RecordFailed
from tayori.wire.claimcheck import ClaimCheck
from tayori.wire.reasons import with_reason
from tayori.wire.sqs import Attribute, Attributes, check_attribute

log = logging.getLogger("tayori.handler")


class DeadLetters:
    def __init__(self, queues: QueueDirectory, claim_check: ClaimCheck) -> None:
        self.queues = queues
        self.claim_check = claim_check

    def dlq_of(self, queue_name: str) -> str | None:
        policy = self.queues.redrive(queue_name)
        return policy.dead_letter_queue if policy else None

    def send(
        self,
        raw: dict[str, Any],
        queue_name: str,
        attributes: Attributes,
        reason: str,
        error_type: str,
    ) -> str:
        """Put the record in its DLQ; return the DLQ's name. ``RecordFailed`` when there is
        no DLQ to go to (the record is then retried, never dropped)."""
        dlq = self.dlq_of(queue_name)
        if dlq is None:
            raise RecordFailed(f"no DLQ for queue {queue_name!r}: {reason}")
        body = raw.get("body")
        if not isinstance(body, str) or body == "":
            body = json.dumps({"tayori_unreadable_body": repr(body)[:1000]})
        target = self.queues.queue(dlq)
        limit = self.queues.size_limit(dlq)
        try:
            target.send(body, with_reason(body, attributes, reason, error_type, limit))
        except (InvalidParameterValue, UnicodeError) as exc:
            log.info(
                "DLQ %s refused message %s as is (%s); keeping its body as a blob",
                dlq,
                raw.get("messageId"),
                exc,
            )
            kept = _acceptable(attributes)
            pointer, kept = self.claim_check.offload(_encodable(body), kept, always=True)
            target.send(pointer, with_reason(pointer, kept, reason, error_type, limit))
        return dlq

    def delete_source(self, raw: dict[str, Any], queue_name: str) -> None:
        """Delete the dead-lettered message now, not when the batch reports success: an
        invocation that then times out or crashes must not bring it back to be
        dead-lettered a second time (the ESM's later delete simply finds nothing)."""
        handle = raw.get("receiptHandle")
        if not isinstance(handle, str) or not handle:
            return
        try:
            self.queues.queue(queue_name).delete(handle)
        except Exception as exc:  # the batch response still deletes it in the normal case
            log.info(
                "dead-lettered message %s stays in %s until the batch ends: %s",
                raw.get("messageId"),
                queue_name,
                exc,
            )


def _encodable(body: str) -> str:
    """The body itself, or (when it is not even valid Unicode: lone surrogates) its
    complete ``repr`` in a JSON stand-in: nothing of it is dropped."""
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps({"tayori_unreadable_body": repr(body)})
    return body


def _acceptable(attributes: Attributes) -> dict[str, Attribute]:
    """The attributes SQS would take (a foreign producer's, read through a lax endpoint,
    may hold values SQS refuses)."""
    out: dict[str, Attribute] = {}
    for name, attr in attributes.items():
        try:
            check_attribute(name, attr)
        except InvalidParameterValue:
            continue
        out[name] = attr
    return out
