"""botocore errors -> tayori errors, so callers never see botocore.

SQS answers with either the query-protocol code (``AWS.SimpleQueueService.NonExistentQueue``)
or the JSON-protocol one (``QueueDoesNotExist``); both map to the same class. Throttling and
5xx responses reach this point only after botocore's standard retry mode gave up.
"""

from __future__ import annotations

from typing import Any

from tayori import errors as e

_SQS_CODES: dict[str, type[e.QueueError]] = {
    "QueueDoesNotExist": e.QueueDoesNotExist,
    "NonExistentQueue": e.QueueDoesNotExist,
    "InvalidParameterValue": e.InvalidParameterValue,
    "InvalidParameterValueException": e.InvalidParameterValue,
    "InvalidAttributeValue": e.InvalidParameterValue,
    "InvalidAttributeName": e.InvalidParameterValue,
    "InvalidMessageContents": e.InvalidParameterValue,
    "MissingParameter": e.InvalidParameterValue,
    "ReceiptHandleIsInvalid": e.ReceiptHandleIsInvalid,
    "InvalidReceiptHandle": e.ReceiptHandleIsInvalid,
    "MessageNotInflight": e.MessageNotInflight,
    "PurgeQueueInProgress": e.PurgeQueueInProgress,
    "EmptyBatchRequest": e.EmptyBatchRequest,
    "TooManyEntriesInBatchRequest": e.TooManyEntriesInBatchRequest,
    "BatchEntryIdsNotDistinct": e.BatchEntryIdsNotDistinct,
    "InvalidBatchEntryId": e.InvalidBatchEntryId,
    "BatchRequestTooLong": e.BatchRequestTooLong,
}

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        "KmsThrottled",
    }
)


def short_code(code: str) -> str:
    """``AWS.SimpleQueueService.NonExistentQueue`` -> ``NonExistentQueue``."""
    return code.rsplit(".", 1)[-1] if code.startswith("AWS.") else code


def client_error_parts(exc: Any) -> tuple[str, str, int]:
    err = getattr(exc, "response", {}).get("Error", {}) or {}
    meta = getattr(exc, "response", {}).get("ResponseMetadata", {}) or {}
    code = short_code(str(err.get("Code") or "Unknown"))
    message = str(err.get("Message") or exc).splitlines()[0] if str(exc) else code
    return code, message, int(meta.get("HTTPStatusCode") or 0)


def sqs_error(exc: BaseException, what: str) -> e.TayoriError:
    """Map one failed SQS call; ``what`` names the call for the message (one line)."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return e.ConfigError(f"{what}: no AWS credentials found")
    if not isinstance(exc, ClientError):
        return e.QueueUnavailable(f"{what}: SQS unreachable ({type(exc).__name__}: {exc})")
    code, message, status = client_error_parts(exc)
    if code in _SQS_CODES:
        cls = _SQS_CODES[code]
        if cls is e.InvalidParameterValue and "shorter than" in message:
            cls = e.MessageTooLong
        return cls(f"{what}: {message}")
    if code in TRANSIENT_CODES or status >= 500 or status == 429:
        return e.QueueUnavailable(f"{what}: SQS still failing after retries ({code}: {message})")
    if code in ("AccessDenied", "AccessDeniedException", "InvalidClientTokenId"):
        return e.ConfigError(f"{what}: access denied ({code}): {message}")
    return e.QueueError(f"{what}: {code}: {message}", code=code)


def s3_error(exc: BaseException, bucket: str, key: str, what: str) -> e.TayoriError:
    """Map one failed S3 call on ``bucket/key``."""
    from botocore.exceptions import ClientError, NoCredentialsError

    where = f"{bucket}/{key}"
    if isinstance(exc, NoCredentialsError):
        return e.ConfigError(f"cannot {what} blob {where}: no AWS credentials found")
    if not isinstance(exc, ClientError):
        return e.BlobError(f"cannot {what} blob {where}: S3 unreachable ({type(exc).__name__})")
    code, message, status = client_error_parts(exc)
    if code in ("NoSuchKey", "404", "NotFound") or (status == 404 and code != "NoSuchBucket"):
        return e.BlobNotFound(f"blob {where} does not exist")
    if code == "NoSuchBucket":
        return e.BlobError(f"cannot {what} blob {where}: bucket {bucket!r} does not exist")
    if code in TRANSIENT_CODES or status >= 500:
        return e.BlobError(f"cannot {what} blob {where}: S3 still failing after retries ({code})")
    return e.BlobError(f"cannot {what} blob {where}: {code}: {message}")
