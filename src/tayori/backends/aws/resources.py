"""The AWS resources a tayori app needs besides its queues, created once and checked at start.

``ensure_*`` create what is missing and bring an existing resource to the settings tayori
relies on (the bucket's lifecycle rule and public-access block, the table's TTL), so
``tayori setup`` is safe to run again. ``missing`` only reads: a worker calls it at start
and stops with one line naming what is missing and ``tayori setup`` as the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tayori.backends.aws.s3 import DEFAULT_BLOB_EXPIRY_DAYS, create_bucket

CREATED, EXISTS, WOULD_CREATE = "created", "exists", "would create"
EXPIRY_ATTRIBUTE = "expiration"  # Powertools' DynamoDB layer's TTL attribute
MISSING_CODES = frozenset(
    {"404", "NoSuchBucket", "NotFound", "ResourceNotFoundException", "QueueDoesNotExist"}
)
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@dataclass(frozen=True, slots=True)
class Step:
    """One resource ``tayori setup`` looked at and what it did (or would do)."""

    kind: str  # queue | dead-letter queue | bucket | table | directory
    name: str
    action: str  # created | exists | would create
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _is_missing(exc: Exception) -> bool:
    return _code(exc) in MISSING_CODES or type(exc).__name__ in MISSING_CODES


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        if _is_missing(exc):
            return False
        raise
    return True


def table_exists(dynamodb: Any, table: str) -> bool:
    try:
        dynamodb.describe_table(TableName=table)
    except Exception as exc:
        if _is_missing(exc):
            return False
        raise
    return True


def ensure_bucket(
    s3: Any, bucket: str, region: str, *, dry_run: bool, expiry_days: int = DEFAULT_BLOB_EXPIRY_DAYS
) -> Step:
    """The claim-check bucket: private (public-access block), SSE-S3, blobs expiring."""
    exists = bucket_exists(s3, bucket)
    detail = f"blobs expire after {expiry_days} days; public access blocked"
    if dry_run:
        return Step("bucket", bucket, EXISTS if exists else WOULD_CREATE, detail)
    create_bucket(s3, bucket, region, expiry_days=expiry_days)  # also sets the lifecycle rule
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return Step("bucket", bucket, EXISTS if exists else CREATED, detail)


def ensure_idempotency_table(dynamodb: Any, table: str, *, dry_run: bool) -> Step:
    from tayori.backends.aws.dynamodb import create_idempotency_table

    exists = table_exists(dynamodb, table)
    detail = f"idempotency records, TTL on {EXPIRY_ATTRIBUTE!r}"
    if dry_run:
        return Step("table", table, EXISTS if exists else WOULD_CREATE, detail)
    create_idempotency_table(dynamodb, table)
    ttl = dynamodb.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRY_ATTRIBUTE},
        )
    return Step("table", table, EXISTS if exists else CREATED, detail)


def ensure_table(
    dynamodb: Any, table: str, create: Callable[[Any, str], None], detail: str, *, dry_run: bool
) -> Step:
    """Any other table (the mail store's): ``create(client, name)`` keeps an existing one."""
    exists = table_exists(dynamodb, table)
    if dry_run:
        return Step("table", table, EXISTS if exists else WOULD_CREATE, detail)
    create(dynamodb, table)
    return Step("table", table, EXISTS if exists else CREATED, detail)


def missing(s3: Any, dynamodb: Any, bucket: str, tables: Sequence[str]) -> list[str]:
    """What of the bucket and tables does not exist ("bucket 'x'", "table 'y'")."""
    gone = [] if bucket_exists(s3, bucket) else [f"bucket {bucket!r}"]
    return gone + [f"table {t!r}" for t in tables if not table_exists(dynamodb, t)]
