"""The AWS backend: SQS queues, S3 claim-check blobs, DynamoDB idempotency records.

boto3 is imported here only, lazily, and each client is created once per backend and
reused (boto3 clients are thread-safe; Lambda cold start pays for each one created).
Selected by ``TAYORI_URL=aws://?region=...``; ``TAYORI_ENDPOINT_URL`` points every
client at a compatible endpoint (moto in tests).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tayori.backends.aws.s3 import S3BlobStore
from tayori.backends.base import QueueSpec, check_queue_name
from tayori.errors import QueueDoesNotExist, QueueError, ResourcesMissing

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from tayori.backends.aws.resources import Step
    from tayori.backends.aws.sqs import SqsQueue
    from tayori.settings import Settings

__all__ = ["AwsBackend", "S3BlobStore", "SqsQueue"]


def __getattr__(name: str) -> Any:
    # SqsQueue loads with the first queue: a cold start that never retries does not
    if name == "SqsQueue":
        from tayori.backends.aws.sqs import SqsQueue

        return SqsQueue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Standard retry mode: exponential backoff with jitter on throttling, 5xx and
# connection errors; what still fails after it surfaces as QueueUnavailable / BlobError.
MAX_ATTEMPTS = 5
# Long polls wait up to 20 s: the read timeout must be longer.
READ_TIMEOUT = 30
CONNECT_TIMEOUT = 5
MAX_POOL = 50


class AwsBackend:
    """Factory for SQS queues, S3 blob stores and DynamoDB persistence layers."""

    def __init__(
        self,
        region: str = "us-east-1",
        *,
        endpoint_url: str | None = None,
        bucket: str = "tayori",
        idempotency_table: str = "tayori-idempotency",
        session: Any = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.default_bucket = bucket
        self.idempotency_table = idempotency_table
        self._session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._urls: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> AwsBackend:
        return cls(
            settings.region,
            endpoint_url=settings.endpoint_url,
            bucket=settings.bucket,
            idempotency_table=settings.idempotency_table,
        )

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"AwsBackend({self.region!r}{where})"

    # -------------------------------------------------------------- clients

    def client(self, service: str) -> Any:
        """The backend's one boto3 client for ``service`` (sqs, s3, dynamodb)."""
        found = self._clients.get(service)
        if found is not None:
            return found
        with self._lock:
            if service not in self._clients:
                import boto3
                from botocore.config import Config

                config = Config(
                    region_name=self.region,
                    retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
                    connect_timeout=CONNECT_TIMEOUT,
                    read_timeout=READ_TIMEOUT,
                    max_pool_connections=MAX_POOL,
                )
                session = self._session or boto3.session.Session()
                self._clients[service] = session.client(
                    service, endpoint_url=self.endpoint_url, config=config
                )
            return self._clients[service]

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    # -------------------------------------------------------------- queues

    def _sqs_call(self, op: str, what: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.sqs, op)(**kwargs)
        except Exception as exc:
            if type(exc).__module__.startswith(("botocore", "boto3")):
                from tayori.backends.aws.errors import sqs_error

                raise sqs_error(exc, what) from None
            raise

    def _url(self, name: str) -> str:
        url = self._urls.get(name)
        if url is None:
            url = self._sqs_call("get_queue_url", f"queue {name!r}", QueueName=name)["QueueUrl"]
            self._urls[name] = url
        return url

    def create_queue(self, name: str, spec: QueueSpec | None = None) -> SqsQueue:
        """Create or update (CreateQueue, then SetQueueAttributes when it already exists)."""
        from tayori.backends.aws.sqs import SqsQueue, queue_arn

        check_queue_name(name)
        spec = spec or QueueSpec()
        attrs = {
            "VisibilityTimeout": str(spec.visibility_timeout),
            "MessageRetentionPeriod": str(spec.retention_seconds),
            "MaximumMessageSize": str(spec.max_message_size),
            "DelaySeconds": str(spec.delay_seconds),
        }
        if spec.redrive is not None:
            try:
                dlq_url = self._url(spec.redrive.dead_letter_queue)
            except QueueDoesNotExist:
                raise QueueDoesNotExist(
                    f"dead-letter queue {spec.redrive.dead_letter_queue!r} does not exist"
                ) from None
            attrs["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": queue_arn(dlq_url, self.region),
                    "maxReceiveCount": spec.redrive.max_receive_count,
                }
            )
        what = f"create queue {name!r}"
        try:
            url = self._sqs_call("create_queue", what, QueueName=name, Attributes=attrs)["QueueUrl"]
            self._urls[name] = url
            existed = False
        except QueueError as exc:
            if exc.code not in ("QueueNameExists", "QueueAlreadyExists"):
                raise
            existed = True
        if existed or spec.redrive is None:
            # an existing queue takes the new attributes; no redrive means remove it
            url = self._url(name)
            current = self._sqs_call(
                "get_queue_attributes", what, QueueUrl=url, AttributeNames=["RedrivePolicy"]
            ).get("Attributes", {})
            update = dict(attrs) if existed else {}
            if spec.redrive is None and current.get("RedrivePolicy"):
                update["RedrivePolicy"] = ""
            if update:
                self._sqs_call("set_queue_attributes", what, QueueUrl=url, Attributes=update)
        queue = SqsQueue(self.sqs, name, self._urls[name], self.region)
        return queue

    def get_queue(self, name: str) -> SqsQueue:
        from tayori.backends.aws.sqs import SqsQueue

        check_queue_name(name)
        return SqsQueue(self.sqs, name, self._url(name), self.region)

    def list_queues(self) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {"MaxResults": 1000}
        while True:
            resp = self._sqs_call("list_queues", "list queues", **kwargs)
            names.extend(url.rstrip("/").rsplit("/", 1)[-1] for url in resp.get("QueueUrls", []))
            token = resp.get("NextToken")
            if not token:
                return sorted(names)
            kwargs["NextToken"] = token

    def delete_queue(self, name: str) -> None:
        """Idempotent like the embedded backend. AWS refuses the same name for 60 s after."""
        check_queue_name(name)
        try:
            url = self._url(name)
            self._sqs_call("delete_queue", f"delete queue {name!r}", QueueUrl=url)
        except QueueDoesNotExist:
            pass
        self._urls.pop(name, None)

    # -------------------------------------------------------------- blobs, idempotency

    def blob_store(self, bucket: str | None = None) -> S3BlobStore:
        return S3BlobStore(self.client("s3"), bucket or self.default_bucket)

    def persistence_layer(self) -> DynamoDBPersistenceLayer:
        """A NEW Powertools layer per call, all sharing the backend's one DynamoDB client."""
        from tayori.backends.aws.dynamodb import persistence_layer

        return persistence_layer(self.client("dynamodb"), self.idempotency_table)

    def create_resources(self, queues: dict[str, QueueSpec] | None = None) -> None:
        """Create the bucket and tables (as ``tayori setup``) and ``queues`` (tests)."""
        self.setup_resources()
        for name, spec in (queues or {}).items():
            self.create_queue(name, spec)

    def setup_resources(self, *, dry_run: bool = False) -> list[Step]:
        """Create (or bring up to date) the claim-check bucket and the idempotency table;
        ``dry_run`` only looks. Queues and the mail table: :mod:`tayori.deploy.setup`."""
        from tayori.backends.aws import resources as res

        s3, ddb = self.client("s3"), self.client("dynamodb")
        try:
            return [
                res.ensure_bucket(s3, self.default_bucket, self.region, dry_run=dry_run),
                res.ensure_idempotency_table(ddb, self.idempotency_table, dry_run=dry_run),
            ]
        except Exception as exc:
            raise _unreachable(exc, "set up the AWS resources") from None

    def check_resources(self, tables: Sequence[str] = (), queues: Sequence[str] = ()) -> None:
        """Raise :class:`ResourcesMissing` (one line, naming each missing resource and
        ``tayori setup``) unless the bucket, the idempotency table, ``tables`` and
        ``queues`` exist and answer. Only reads; a worker calls it before polling."""
        from tayori.backends.aws.resources import missing

        wanted = [self.idempotency_table, *(t for t in tables if t != self.idempotency_table)]
        try:
            gone = missing(self.client("s3"), self.client("dynamodb"), self.default_bucket, wanted)
            for name in queues:
                try:
                    self._url(name)
                except QueueDoesNotExist:
                    gone.append(f"queue {name!r}")
        except ResourcesMissing:
            raise
        except Exception as exc:
            raise _unreachable(exc, "check the AWS resources") from None
        if gone:
            raise ResourcesMissing(
                f"missing on AWS ({self.region}): {', '.join(gone)}; create them with "
                "`tayori setup` (or deploy the `tayori template` stack)",
                missing=gone,
            )

    # -------------------------------------------------------------- mail store, rate limit

    def mail_store(self) -> Any:
        """Outcomes and suppression in the DynamoDB table beside the idempotency table
        (``X-idempotency`` -> ``X-mail``), on this backend's client."""
        from tayori.backends.aws.mail import DynamoDBMailStore, mail_table_name

        return DynamoDBMailStore(self.client("dynamodb"), mail_table_name(self.idempotency_table))

    def rate_limiter(self, rate: float, burst: float = 1.0, name: str = "provider") -> Any:
        """A token bucket in one item of the mail table, shared by every execution."""
        from tayori.backends.aws.mail import mail_table_name
        from tayori.backends.aws.ratelimit import DynamoDBRateLimiter

        table = mail_table_name(self.idempotency_table)
        return DynamoDBRateLimiter(self.client("dynamodb"), table, rate, burst, name)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, {}
        for client in clients.values():
            try:
                client.close()
            except Exception:
                pass
        self._urls.clear()


def _unreachable(exc: Exception, what: str) -> Exception:
    """A botocore failure (no endpoint, AccessDenied, ...) -> one line naming the cause."""
    if not type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
        return exc
    err = getattr(exc, "response", {}).get("Error", {}) or {}
    reason = f"{err.get('Code')}: {err.get('Message')}" if err else str(exc).splitlines()[0]
    return ResourcesMissing(f"cannot {what}: {reason}", missing=[])
