"""Claim-check blobs in S3 behind the :class:`~tayori.backends.base.BlobStore` protocol."""

from __future__ import annotations

from typing import Any

from tayori.backends.aws.errors import s3_error
from tayori.backends.base import check_blob_key, check_bucket_name

# Claim-check blobs are deleted after success; the lifecycle rule catches the rest
# (failed, dead-lettered, abandoned). It must outlive queue + DLQ retention.
DEFAULT_BLOB_EXPIRY_DAYS = 21
BLOB_PREFIX = "tayori/"


class S3BlobStore:
    """One bucket. Keys are checked like the embedded store's, so both refuse the same keys."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.bucket = check_bucket_name(bucket)
        self._client = client

    def __repr__(self) -> str:
        return f"S3BlobStore({self.bucket!r})"

    def put(self, key: str, data: bytes) -> None:
        check_blob_key(key)
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data))
        except Exception as exc:
            raise _mapped(exc, self.bucket, key, "write") from None

    def get(self, key: str) -> bytes:
        check_blob_key(key)
        try:
            return bytes(self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise _mapped(exc, self.bucket, key, "read") from None

    def delete(self, key: str) -> None:
        """Idempotent: S3 answers success for a missing key too."""
        check_blob_key(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            err = _mapped(exc, self.bucket, key, "delete")
            if type(err).__name__ == "BlobNotFound":
                return
            raise err from None


def _mapped(exc: Exception, bucket: str, key: str, what: str) -> Exception:
    if type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
        return s3_error(exc, bucket, key, what)
    return exc


def create_bucket(
    client: Any, bucket: str, region: str, *, expiry_days: int = DEFAULT_BLOB_EXPIRY_DAYS
) -> None:
    """Create the claim-check bucket with a lifecycle rule expiring blobs (tests, CLI)."""
    check_bucket_name(bucket)
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "tayori-claim-check-expiry",
                    "Filter": {"Prefix": ""},
                    "Status": "Enabled",
                    "Expiration": {"Days": expiry_days},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
