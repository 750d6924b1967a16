"""SQS event -> Powertools BatchProcessor + idempotency -> task, with the error taxonomy.

One code path for AWS Lambda and the local runtime. Per record:
decode (claim-check, envelope) -> find task -> idempotent call.
``PermanentError`` / bad input: dead-lettered with the reason, reported done.
``RetryLater`` and other errors: visibility set from the retry decision, reported failed.
A record's own code only ever fails that record (``SystemExit`` included).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from tayori.backends.base import Backend
from tayori.consumer.concurrent import RecordPool, batch_width
from tayori.consumer.deadletter import DeadLetters
from tayori.consumer.guard import Guard
from tayori.consumer.hooks import CounterHook, Counters, Hook, Hooks, RecordInfo
from tayori.consumer.outage import OutageMonitor
from tayori.consumer.queues import QueueDirectory
from tayori.consumer.record import attributes_of, queue_name_of, receive_count_of, record_problem
from tayori.consumer.retry import Outcome, RetryDecision, RetryPolicy, decide_retry
from tayori.consumer.schedule import Scheduler
from tayori.errors import MalformedEvent, MalformedMessage, RecordFailed, Retry, TaskExited
from tayori.registry import Registry, TaskDef
from tayori.settings import Settings
from tayori.wire.claimcheck import ClaimCheck
from tayori.wire.codec import Codec, Incoming
from tayori.wire.envelope import Envelope
from tayori.wire.reasons import describe, error_type
from tayori.wire.sqs import Attributes

log = logging.getLogger("tayori.handler")


class Handler:
    """The Lambda function body: built from a registry, a codec and a backend, not an App."""

    def __init__(
        self,
        registry: Registry,
        codec: Codec,
        backend: Backend,
        settings: Settings,
        claim_check: ClaimCheck,
        *,
        policy: RetryPolicy | None = None,
        hooks: list[Hook] | None = None,
    ) -> None:
        self.registry = registry
        self.codec = codec
        self.backend = backend
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.queue_policies: dict[str, RetryPolicy] = {}
        self.outage = OutageMonitor()
        self.records = RecordPool()
        self.counters = Counters()
        self.hooks = Hooks([CounterHook(self.counters), *(hooks or [])])
        self.queues = QueueDirectory(backend)
        self.dead_letters = DeadLetters(self.queues, claim_check)
        self.schedule = Scheduler(self.queues, codec)  # celery (issue 11)
        self._guards: dict[str, Guard] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ entry point

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            raise MalformedEvent("Lambda event has no Records list: not an SQS event")
        good: list[dict[str, Any]] = []
        for raw in records:
            problem = record_problem(raw)
            if problem is None:
                good.append(raw)
            else:
                # Cannot be reported by id; keep it in the DLQ instead of losing it.
                self._dead_letter_raw(raw, MalformedMessage(problem))
        if not good:
            return {"batchItemFailures": []}
        invocation = _Invocation()
        width = batch_width(self.registry, good)
        try:
            if width > 1:
                return self.records.run(
                    good, lambda record: self._record(record, context, invocation), width, context
                )
            processor = BatchProcessor(
                event_type=EventType.SQS, raise_on_entire_batch_failure=False
            )
            return process_partial_response(
                event={"Records": good},
                record_handler=lambda record: self._record(record, context, invocation),
                processor=processor,
                context=context,
            )
        finally:
            self.hooks.emit("invocation_done", context)

    # ------------------------------------------------------------------ one record

    def _record(self, record: SQSRecord, context: Any, invocation: _Invocation) -> None:
        raw = record.raw_event
        info = RecordInfo(raw["messageId"], queue_name_of(raw), receive_count_of(raw))
        if invocation.outage is not None and not self._last_attempt(info):
            # the same dependency would fail again: a failed invocation, not N failures
            decision = self._outage_decision(invocation.outage, info)
            self.outage.failed(decision)
            self._retry(raw, info, decision)
            raise RecordFailed(f"not run: {invocation.outage.reason}")
        try:
            attributes = attributes_of(raw)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            self._give_up(raw, info, {}, MalformedMessage(f"bad message attributes: {exc}"))
            return
        incoming: Incoming | None = None
        task: TaskDef | None = None
        try:
            incoming = self.codec.decode(raw["body"], attributes)
            task = self.registry.get(incoming.envelope.task)
            info = RecordInfo(info.message_id, info.queue, info.receive_count, task.name)
            if incoming.pointer is not None:
                self.hooks.emit("claim_check", info)
            # -- celery (issue 11): expiry and due time (long delays hop); consumer/schedule.py
            envelope = self.schedule.admit(incoming, raw, info, attributes)
            if envelope is None:
                return
            # --
            started = time.perf_counter()
            self._run(task, envelope, info, context)
            self.hooks.emit("ran", info, time.perf_counter() - started)
        except Retry as signal:  # -- celery (issue 11): retry copy, retries counted in it
            delay = self.schedule.retry(incoming, info, signal)  # type: ignore[arg-type]
            self.hooks.emit("failed", info, "Retry", f"{signal}; next try in {delay:.0f}s")
            return
        except Exception as exc:
            decision = decide_retry(
                exc,
                info.receive_count,
                self.queues.max_receive_count(info.queue),
                self.policy_for(info.queue, task),
            )
            if decision.outcome is Outcome.DEAD_LETTER:
                self._give_up(raw, info, attributes, exc, decision)
                _tell_task(task, incoming, decision.reason)
                return
            if decision.infrastructure:
                invocation.outage = decision
                self.outage.failed(decision)
            self._retry(raw, info, decision)
            raise RecordFailed(f"{decision.error_type}: {decision.reason}") from None
        self.outage.succeeded()
        self.hooks.emit("succeeded", info)
        try:
            self.codec.release(incoming)
        except Exception as exc:  # best effort: lifecycle rules expire it anyway
            log.warning("could not clean up after message %s: %s", info.message_id, exc)

    def _run(self, task: TaskDef, envelope: Envelope, info: RecordInfo, context: Any) -> None:
        key = task.key_for(envelope)
        if key is None:
            log.warning("task %s: message without idempotency key runs unguarded", task.name)
            _call(task, envelope)
            return
        self._guard(task.name)(key, lambda: _jsonable(_call(task, envelope)), info, context)

    def policy_for(self, queue: str, task: TaskDef | None = None) -> RetryPolicy:
        """The task's policy (``retry_policy`` attribute), else its queue's
        (``App.set_retry_policy``), else the default."""
        own = getattr(task, "retry_policy", None)
        if isinstance(own, RetryPolicy):
            return own
        return self.queue_policies.get(queue, self.policy)

    def _last_attempt(self, info: RecordInfo) -> bool:
        limit = self.queues.max_receive_count(info.queue)
        return limit is not None and info.receive_count >= limit

    def _outage_decision(self, first: RetryDecision, info: RecordInfo) -> RetryDecision:
        delay = self.policy_for(info.queue).outage_backoff(info.receive_count)
        return RetryDecision(
            Outcome.RETRY, first.reason, first.error_type, delay, infrastructure=True
        )

    def _duplicate(self, info: RecordInfo, response: Any) -> Any:
        self.hooks.emit("duplicate", info)
        return response

    # ------------------------------------------------------------------ outcomes

    def _retry(self, raw: dict[str, Any], info: RecordInfo, decision: RetryDecision) -> None:
        self.hooks.emit("failed", info, decision.error_type, decision.reason)
        log.info(
            "message %s failed (%s: %s); retry in %ss",
            info.message_id,
            decision.error_type,
            decision.reason,
            decision.delay_seconds,
        )
        if decision.delay_seconds is None:
            return
        try:
            self.queues.queue(info.queue).change_visibility(
                raw["receiptHandle"], decision.delay_seconds
            )
        except Exception as exc:  # the visibility timeout still brings it back
            log.warning("could not set retry delay for %s: %s", info.message_id, exc)

    def _give_up(
        self,
        raw: dict[str, Any],
        info: RecordInfo,
        attributes: Attributes,
        exc: BaseException,
        decision: RetryDecision | None = None,
    ) -> None:
        reason = decision.reason if decision else describe(exc)
        kind = decision.error_type if decision else error_type(exc)
        try:
            dlq = self.dead_letters.send(raw, info.queue, attributes, reason, kind)
        except RecordFailed as failed:
            log.error("message %s: %s", info.message_id, failed)
            raise
        self.dead_letters.delete_source(raw, info.queue)
        self.hooks.emit("dead_lettered", info, kind, reason)
        log.warning("message %s dead-lettered to %s: %s: %s", info.message_id, dlq, kind, reason)

    def _dead_letter_raw(self, raw: Any, exc: MalformedMessage) -> None:
        record = raw if isinstance(raw, dict) else {"body": json.dumps(repr(raw)[:1000])}
        info = RecordInfo(str(record.get("messageId") or "?"), queue_name_of(record), 1)
        try:
            self._give_up(record, info, {}, exc)
        except Exception as err:
            log.error("malformed record could not be dead-lettered: %s (%s)", exc, describe(err))

    # ------------------------------------------------------------------ lookups (cached)

    def _guard(self, task_name: str) -> Guard:
        # one guard (and persistence layer) per task: Powertools keeps a layer's first
        # configuration, and building the decorator per record costs ~20 µs
        guard = self._guards.get(task_name)
        if guard is None:
            with self._lock:
                guard = self._guards.get(task_name)
                if guard is None:
                    guard = Guard(
                        self.backend.persistence_layer(),
                        f"{self.registry.name}.{task_name}",
                        self.settings.idempotency_expiry_seconds,
                        self._duplicate,
                    )
                    self._guards[task_name] = guard
        return guard


@dataclass(slots=True)
class _Invocation:
    """State of one invocation: the first infrastructure failure, if any."""

    outage: RetryDecision | None = None


def _call(task: TaskDef, envelope: Envelope) -> Any:
    """Run the task; an attempt to exit the process fails this record only (the batch
    processor catches ``Exception``, so a ``SystemExit`` would fail the whole batch)."""
    try:
        return task.run(envelope)
    except (SystemExit, KeyboardInterrupt, GeneratorExit) as exc:
        raise TaskExited(
            f"task {task.name!r} tried to exit the process ({type(exc).__name__}"
            f"{'' if exc.args == () else ': ' + describe(exc)})"
        ) from None


def _tell_task(task: TaskDef | None, incoming: Incoming | None, reason: str) -> None:
    """The task's ``on_dead_letter``, after its record went to the DLQ (observer only)."""
    hook = getattr(task, "on_dead_letter", None)
    if hook is None or incoming is None:
        return
    try:
        hook(incoming.envelope, reason)
    except Exception as exc:  # the dead letter stands; its reason is already on it
        log.warning("task %s: on_dead_letter failed: %s", getattr(task, "name", "?"), exc)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value
