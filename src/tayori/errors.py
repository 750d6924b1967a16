"""One exception root for everything tayori raises.

Queue errors carry the SQS error code so that the embedded and the AWS backend
raise the same class for the same mistake, and callers never see botocore or
sqlite3 exceptions.
"""

from __future__ import annotations


class TayoriError(Exception):
    """Root of every error tayori raises on purpose."""


class ConfigError(TayoriError):
    """Settings or arguments that cannot work (bad URL, missing bucket, ...)."""


# --------------------------------------------------------------------------- queue


class QueueError(TayoriError):
    """A queue call was refused. ``code`` is the SQS error code."""

    code = "QueueError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class QueueDoesNotExist(QueueError):
    code = "QueueDoesNotExist"


class InvalidParameterValue(QueueError):
    code = "InvalidParameterValue"


class QueueNameInvalid(InvalidParameterValue):
    """A queue name SQS would refuse (1-80 of A-Z a-z 0-9 _ -)."""


class MessageTooLong(InvalidParameterValue):
    """Body plus attributes over the queue's MaximumMessageSize."""


class EmptyBatchRequest(QueueError):
    code = "EmptyBatchRequest"


class TooManyEntriesInBatchRequest(QueueError):
    code = "TooManyEntriesInBatchRequest"


class BatchEntryIdsNotDistinct(QueueError):
    code = "BatchEntryIdsNotDistinct"


class InvalidBatchEntryId(QueueError):
    code = "InvalidBatchEntryId"


class BatchRequestTooLong(QueueError):
    code = "BatchRequestTooLong"


class ReceiptHandleIsInvalid(QueueError):
    code = "ReceiptHandleIsInvalid"


class MessageNotInflight(QueueError):
    code = "MessageNotInflight"


class PurgeQueueInProgress(QueueError):
    """SQS allows one purge per queue every 60 seconds."""

    code = "PurgeQueueInProgress"


class QueueUnavailable(QueueError):
    """The store behind the queue failed (locked too long, I/O error, throttled)."""

    code = "ServiceUnavailable"


def error_for_code(code: str, message: str) -> QueueError:
    """The error class for an SQS error code (per-entry batch failures carry only the code)."""
    for cls in (
        QueueDoesNotExist,
        InvalidParameterValue,
        EmptyBatchRequest,
        TooManyEntriesInBatchRequest,
        BatchEntryIdsNotDistinct,
        InvalidBatchEntryId,
        BatchRequestTooLong,
        ReceiptHandleIsInvalid,
        MessageNotInflight,
        PurgeQueueInProgress,
        QueueUnavailable,
    ):
        if cls.code == code:
            return cls(message)
    return QueueError(message, code=code)


class SendFailed(TayoriError):
    """Some entries of a send could not be enqueued after retries.

    ``failed`` maps entry index -> (code, message); ``sent`` holds the ids that did go.
    """

    def __init__(self, message: str, *, sent: list[str], failed: dict[int, tuple[str, str]]):
        super().__init__(message)
        self.sent = sent
        self.failed = failed


# --------------------------------------------------------------------------- blobs


class BlobError(TayoriError):
    """The blob store refused or failed a call."""


class BlobNotFound(BlobError):
    """The claim-check pointer names a blob that does not exist."""


class InvalidBlobKey(BlobError):
    """Blob keys are relative, '/'-separated and never contain '..'."""


# --------------------------------------------------------------------------- tasks


class PermanentError(TayoriError):
    """The task cannot succeed: no retry, the message goes to the DLQ at once."""


class RetryLater(TayoriError):
    """Report failure and make the message visible again after ``seconds``."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {seconds:g}s")
        self.seconds = max(0.0, float(seconds))


class BadMessage(PermanentError):
    """A received message tayori cannot process; it is dead-lettered with this reason."""


class MalformedMessage(BadMessage):
    """The body is not a tayori envelope (not JSON, wrong shape or types)."""


class UnsupportedVersion(BadMessage):
    """The envelope's ``v`` is a version this tayori does not read."""


class UnknownTask(BadMessage):
    """The envelope names a task the app has not registered."""


class BucketNotAllowed(BadMessage):
    """A claim-check pointer names a bucket the consumer may not read."""


class MissingBlob(BadMessage):
    """A claim-check pointer names a blob that is gone."""


class MissingIdempotencyKey(BadMessage):
    """The task's idempotency JMESPath found nothing in the payload."""


class TaskExited(PermanentError):
    """The task raised ``SystemExit`` / ``KeyboardInterrupt``: only its own record fails."""


class MalformedEvent(TayoriError):
    """The Lambda event is not an SQS event; nothing in it can be reported per record."""


class RecordFailed(TayoriError):
    """A record failed and will be retried; carries the one-line reason, never the original
    exception (whose ``str()`` may itself fail inside the batch processor)."""


# --------------------------------------------------------------------------- infrastructure


class InfrastructureError(TayoriError):
    """A dependency (idempotency table, bucket, queue endpoint) failed: not the message's
    fault, so it is never a reason to dead-letter a message."""


# --------------------------------------------------------------------------- mail


class InvalidMessage(PermanentError):
    """The message cannot be sent as built (injection, bad address, no body)."""


class HeaderInjection(InvalidMessage):
    """A header value contains CR, LF or NUL."""


class InvalidAddress(InvalidMessage):
    """An address is not a valid ``local@domain`` mailbox."""


class TemplateError(PermanentError):
    """A template is missing or failed to render for a recipient."""

    def __init__(self, message: str, *, template: str, recipient: str | None) -> None:
        super().__init__(message)
        self.template = template
        self.recipient = recipient


class BadRecipients(TayoriError):
    """A recipients file or stream that cannot be read."""


class InvalidToken(TayoriError):
    """An unsubscribe token that is malformed, forged, tampered with or expired."""


# --------------------------------------------------------------------------- deploy / setup


class PackageError(TayoriError):
    """The Lambda package could not be built, verified, or is over Lambda's limits."""


class HandlerNotLoadable(ConfigError):
    """A handler string the Lambda runtime cannot load (it imports up to the LAST dot)."""


class FunctionError(TayoriError):
    """A local Lambda function (``tayori lambda-local``) reported an error or gave no
    answer: the whole batch is retried, as on Lambda."""


class ResourcesMissing(ConfigError):
    """The backend's bucket, tables or queues do not exist or cannot be reached.

    ``missing`` names each one; the message names ``tayori setup`` as the fix.
    """

    def __init__(self, message: str, *, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


# --------------------------------------------------------------------------- testing


class TaskFailed(TayoriError):
    """A task run by ``tayori.testing.drain(fail_fast=True)`` or in eager mode raised
    ``error`` (the original exception, kept for the test to inspect)."""

    def __init__(self, task: str, error: BaseException) -> None:
        super().__init__(f"task {task!r} failed: {type(error).__name__}: {error}")
        self.task, self.error = task, error


# ------------------------------------------------------------- operations (CLI, recovery)


class BroadcastConflict(ConfigError):
    """A broadcast id reused with another template, context or sender: the queued sends
    would mix two messages, so the second ``send`` is refused."""

    def __init__(self, broadcast_id: str, differences: list[str]) -> None:
        super().__init__(
            f"broadcast {broadcast_id!r} already exists with "
            f"{'; '.join(differences) or 'other settings'}: use a new --broadcast-id "
            f"(`tayori broadcast retry {broadcast_id}` re-sends its failed recipients)"
        )
        self.broadcast_id = broadcast_id


class NoSuchBroadcast(ConfigError):
    """No broadcast with this id in the mail store."""


# --------------------------------------------------------------------------- Celery's task API
# (issue 11: task calls with args/kwargs, per-task retries in the message, time limits)


class TaskArgumentsError(TayoriError, TypeError):
    """``delay()`` / ``apply_async()`` arguments that do not fit the task function's
    signature (also a ``TypeError``, as Celery raises)."""


class Retry(TayoriError):
    """Raised by ``self.retry()`` (and ``autoretry_for``): the handler sends a copy of the
    message with ``retries + 1`` due ``when`` seconds (or at ``when``, a datetime) from now,
    and reports this delivery done. Raise it, as in Celery: ``raise self.retry(exc=exc)``."""

    def __init__(
        self,
        when: float | object,
        exc: BaseException | None = None,
        *,
        args: tuple[object, ...] | None = None,
        kwargs: dict[str, object] | None = None,
    ) -> None:
        at = f"in {when:g}s" if isinstance(when, int | float) else f"at {when}"
        cause = "" if exc is None else f": {type(exc).__name__}: {exc}"
        super().__init__(f"retry {at}{cause}")
        self.when = when
        self.exc = exc
        self.args_override = args
        self.kwargs_override = kwargs


class RetriesExhausted(PermanentError):
    """``max_retries`` is used up: the message goes to the DLQ with this reason."""


class TimeLimitExceeded(TayoriError):
    """The task ran longer than its ``time_limit``; the record fails (and is retried)."""


class UnsupportedFormat(BadMessage):
    """A message in a format tayori does not read (Celery task protocol 1, the pickle
    serializer, ...): dead-lettered, never executed."""
