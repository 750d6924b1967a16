"""SQS event -> Powertools BatchProcessor + idempotency -> task, with the error taxonomy.

One code path for AWS Lambda and the local runtime. Per record:
resolve claim-check -> parse envelope -> find task -> idempotent call.
``PermanentError`` / bad input: dead-lettered with the reason, reported done.
``RetryLater`` and other errors: visibility set from the retry decision, reported failed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from tayori import claimcheck
from tayori.backends.base import (
    MAX_ATTRIBUTES,
    Attribute,
    Attributes,
    Queue,
    message_size,
)
from tayori.envelope import Envelope
from tayori.errors import InvalidParameterValue, MalformedMessage, TayoriError, UnknownTask
from tayori.retry import Decision, Outcome, RetryPolicy, decide, describe

if TYPE_CHECKING:
    from tayori.app import App

log = logging.getLogger("tayori.handler")

ERROR_ATTRIBUTE = "tayori-error"
ERROR_TYPE_ATTRIBUTE = "tayori-error-type"


class MalformedEvent(TayoriError):
    """The Lambda event is not an SQS event; nothing in it can be reported per record."""


@dataclass
class Counters:
    """Per-process outcome counts (thread-safe), read by the demo and the worker."""

    succeeded: int = 0
    failed: int = 0
    dead_lettered: int = 0
    duplicates_skipped: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def dead_letter(self, error_type: str) -> None:
        with self._lock:
            self.dead_lettered += 1
            self.dead_letter_reasons[error_type] = self.dead_letter_reasons.get(error_type, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "succeeded": self.succeeded,
                "failed": self.failed,
                "dead_lettered": self.dead_lettered,
                "duplicates_skipped": self.duplicates_skipped,
                "dead_letter_reasons": dict(self.dead_letter_reasons),
            }


class Handler:
    def __init__(self, app: App, policy: RetryPolicy | None = None) -> None:
        self.app = app
        self.policy = policy or RetryPolicy()
        self.counters = Counters()
        self._layers: dict[str, BasePersistenceLayer] = {}
        self._queues: dict[str, Queue] = {}
        self._dlq_names: dict[str, str | None] = {}
        self._max_receive: dict[str, int | None] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ entry point

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            raise MalformedEvent("Lambda event has no Records list: not an SQS event")
        good: list[dict[str, Any]] = []
        for raw in records:
            problem = _record_problem(raw)
            if problem is None:
                good.append(raw)
            else:
                # Cannot be reported by id; keep it in the DLQ instead of losing it.
                self._dead_letter_raw(raw, MalformedMessage(problem))
        if not good:
            return {"batchItemFailures": []}
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(
            event={"Records": good},
            record_handler=lambda record: self._record(record, context),
            processor=processor,
            context=context,
        )

    # ------------------------------------------------------------------ one record

    def _record(self, record: SQSRecord, context: Any) -> None:
        raw = record.raw_event
        queue_name = _queue_name(raw)
        try:
            attributes = _attributes(raw)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            self._give_up(raw, queue_name, {}, MalformedMessage(f"bad message attributes: {exc}"))
            return
        receive_count = _receive_count(raw)
        try:
            body, pointer = claimcheck.resolve(
                raw["body"],
                attributes,
                self.app.backend.blob_store,
                self.app.settings.readable_buckets,
            )
            envelope = Envelope.parse(body)
            task = self.app.tasks.get(envelope.task)
            if task is None:
                raise UnknownTask(
                    f"unknown task {envelope.task!r} (app {self.app.name!r} has "
                    f"{', '.join(sorted(self.app.tasks)) or 'no tasks'})"
                )
            self._run(task, envelope, context)
        except Exception as exc:
            decision = decide(exc, receive_count, self._max_receive_count(queue_name), self.policy)
            if decision.outcome is Outcome.DEAD_LETTER:
                self._give_up(raw, queue_name, attributes, exc, decision)
                return
            self._retry(raw, queue_name, decision)
            raise
        self.counters.add("succeeded")
        if pointer is not None:
            try:
                self.app.backend.blob_store(pointer.bucket).delete(pointer.key)
            except Exception as exc:  # best effort: lifecycle rules expire it anyway
                log.warning("could not delete claim-check blob %s: %s", pointer.key, exc)

    def _run(self, task: Any, envelope: Envelope, context: Any) -> None:
        key = task.key_for(envelope)
        if key is None:
            log.warning("task %s: message without idempotency key runs unguarded", task.name)
            task.fn(envelope.payload)
            return
        config = IdempotencyConfig(
            event_key_jmespath="k",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=self.app.settings.idempotency_expiry_seconds,
            lambda_context=context if hasattr(context, "get_remaining_time_in_millis") else None,
            response_hook=self._on_duplicate,
        )

        def body(data: dict[str, Any]) -> Any:
            return _jsonable(task.fn(envelope.payload))

        guarded = idempotent_function(
            body,
            data_keyword_argument="data",
            persistence_store=self._layer(task.name),
            config=config,
            key_prefix=f"{self.app.name}.{task.name}",
        )
        guarded(data={"k": key})

    def _on_duplicate(self, response: Any, record: Any) -> Any:
        self.counters.add("duplicates_skipped")
        return response

    # ------------------------------------------------------------------ outcomes

    def _retry(self, raw: dict[str, Any], queue_name: str, decision: Decision) -> None:
        self.counters.add("failed")
        log.info(
            "message %s failed (%s: %s); retry in %ss",
            raw.get("messageId"),
            decision.error_type,
            decision.reason,
            decision.delay_seconds,
        )
        if decision.delay_seconds is None:
            return
        try:
            self._queue(queue_name).change_visibility(raw["receiptHandle"], decision.delay_seconds)
        except Exception as exc:  # the visibility timeout still brings it back
            log.warning("could not set retry delay for %s: %s", raw.get("messageId"), exc)

    def _give_up(
        self,
        raw: dict[str, Any],
        queue_name: str,
        attributes: Attributes,
        exc: BaseException,
        decision: Decision | None = None,
    ) -> None:
        reason = decision.reason if decision else describe(exc)
        error_type = decision.error_type if decision else type(exc).__name__
        dlq = self._dlq_name(queue_name)
        if dlq is None:
            log.error("message %s has no DLQ to go to: %s", raw.get("messageId"), reason)
            raise exc
        body = raw.get("body")
        if not isinstance(body, str) or body == "":
            body = json.dumps({"tayori_unreadable_body": repr(body)[:1000]})
        try:
            self._queue(dlq).send(body, _with_reason(body, attributes, reason, error_type))
        except (InvalidParameterValue, UnicodeError):
            # a body or attributes the DLQ refuses (characters SQS forbids, over its size):
            # keep a readable stand-in with the reason rather than retrying it forever
            body = json.dumps({"tayori_unreadable_body": repr(raw.get("body"))[:1000]})
            self._queue(dlq).send(body, _with_reason(body, {}, reason, error_type))
        self._delete_source(raw, queue_name)
        self.counters.dead_letter(error_type)
        log.warning(
            "message %s dead-lettered to %s: %s: %s", raw.get("messageId"), dlq, error_type, reason
        )

    def _delete_source(self, raw: dict[str, Any], queue_name: str) -> None:
        """Delete the dead-lettered message now, not when the batch reports success: an
        invocation that then times out or crashes must not bring it back to be
        dead-lettered a second time (the ESM's later delete simply finds nothing)."""
        handle = raw.get("receiptHandle")
        if not isinstance(handle, str) or not handle:
            return
        try:
            self._queue(queue_name).delete(handle)
        except Exception as exc:  # the batch response still deletes it in the normal case
            log.info(
                "dead-lettered message %s stays in %s until the batch ends: %s",
                raw.get("messageId"),
                queue_name,
                exc,
            )

    def _dead_letter_raw(self, raw: Any, exc: MalformedMessage) -> None:
        record = raw if isinstance(raw, dict) else {"body": json.dumps(repr(raw)[:1000])}
        queue_name = _queue_name(record)
        try:
            self._give_up(record, queue_name, {}, exc)
        except Exception as err:
            log.error("malformed record could not be dead-lettered: %s (%s)", exc, err)

    # ------------------------------------------------------------------ lookups (cached)

    def _layer(self, task_name: str) -> BasePersistenceLayer:
        # one persistence layer per task: Powertools keeps the first configuration
        layer = self._layers.get(task_name)
        if layer is None:
            with self._lock:
                layer = self._layers.setdefault(task_name, self.app.backend.persistence_layer())
        return layer

    def _queue(self, name: str) -> Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self.app.backend.get_queue(name)
            self._queues[name] = queue
        return queue

    def _policy(self, queue_name: str) -> None:
        if queue_name in self._dlq_names:
            return
        try:
            redrive = self._queue(queue_name).spec().redrive
        except Exception as exc:  # not cached: a throttled read must not lose the DLQ for good
            log.warning("cannot read redrive policy of %s: %s", queue_name, exc)
            return
        self._dlq_names[queue_name] = redrive.dead_letter_queue if redrive else None
        self._max_receive[queue_name] = redrive.max_receive_count if redrive else None

    def _dlq_name(self, queue_name: str) -> str | None:
        self._policy(queue_name)
        return self._dlq_names.get(queue_name)

    def _max_receive_count(self, queue_name: str) -> int | None:
        self._policy(queue_name)
        return self._max_receive.get(queue_name)


# ---------------------------------------------------------------------- record helpers


def _record_problem(raw: Any) -> str | None:
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


def _queue_name(raw: Mapping[str, Any]) -> str:
    arn = raw.get("eventSourceARN") or ""
    return str(arn).rsplit(":", 1)[-1]


def _receive_count(raw: Mapping[str, Any]) -> int:
    try:
        return int((raw.get("attributes") or {}).get("ApproximateReceiveCount", 1))
    except (TypeError, ValueError):
        return 1


def _attributes(raw: Mapping[str, Any]) -> dict[str, Attribute]:
    attrs = raw.get("messageAttributes") or {}
    if not isinstance(attrs, Mapping):
        raise TypeError("messageAttributes is not an object")
    return {str(k): Attribute.from_lambda(v) for k, v in attrs.items()}


def _with_reason(
    body: str, attributes: Attributes, reason: str, error_type: str
) -> dict[str, Attribute]:
    out = {k: v for k, v in attributes.items() if k not in (ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE)}
    room = MAX_ATTRIBUTES - len(out)
    if room <= 0:  # keep the reason: it matters more than the last user attribute
        out = dict(list(out.items())[: MAX_ATTRIBUTES - 2])
        room = 2
    out[ERROR_ATTRIBUTE] = Attribute.string(reason[:1000] or "error")
    if room >= 2:
        out[ERROR_TYPE_ATTRIBUTE] = Attribute.string(error_type[:200])
    # stay under the queue's size limit: shorten the reason, never the body
    while message_size(body, out) > 262_144 and len(out[ERROR_ATTRIBUTE].value) > 20:
        out[ERROR_ATTRIBUTE] = Attribute.string(str(out[ERROR_ATTRIBUTE].value)[:20])
    return out


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value
