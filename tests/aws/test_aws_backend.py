"""AWS-only behaviour of the SQS/S3/DynamoDB backend, against a real moto server.

What both backends share is in tests/contract; here: wiring, error mapping, wire shapes.
"""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from tayori import errors
from tayori.backends import open_backend
from tayori.backends.aws import AwsBackend
from tayori.backends.aws.errors import s3_error, sqs_error
from tayori.backends.base import Attribute, Backend, QueueSpec, RedrivePolicy, SendEntry
from tayori.settings import Settings


@pytest.fixture
def aws(moto_url: str) -> AwsBackend:
    backend = AwsBackend("us-east-1", endpoint_url=moto_url, bucket="tayori-aws-test")
    backend.create_resources()
    yield backend
    backend.close()


def _name(prefix: str = "q") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_open_backend_from_settings(moto_url: str) -> None:
    settings = Settings(
        url="aws://?region=eu-west-1", endpoint_url=moto_url, bucket="b-1", idempotency_table="t"
    )
    backend = open_backend(settings)
    assert isinstance(backend, AwsBackend)
    assert isinstance(backend, Backend)
    assert (backend.region, backend.default_bucket, backend.idempotency_table) == (
        "eu-west-1",
        "b-1",
        "t",
    )
    assert backend.client("sqs") is backend.client("sqs")  # one client, reused
    queue = backend.create_queue(_name())
    assert queue.arn.startswith("arn:aws:sqs:eu-west-1:")
    backend.close()


def test_create_queue_maps_spec_to_attributes(aws: AwsBackend) -> None:
    dlq = aws.create_queue(_name("dlq"))
    spec = QueueSpec(
        visibility_timeout=7,
        retention_seconds=3600,
        max_message_size=262_144,
        delay_seconds=1,
        redrive=RedrivePolicy(dlq.name, 5),
    )
    queue = aws.create_queue(_name(), spec)
    attrs = aws.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "7"
    assert attrs["MessageRetentionPeriod"] == "3600"
    assert attrs["MaximumMessageSize"] == "262144"
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq.arn,
        "maxReceiveCount": 5,
    }
    assert queue.spec() == spec
    # create again = update, like the embedded backend; no redrive removes it
    again = aws.create_queue(queue.name, QueueSpec(visibility_timeout=9))
    assert again.spec() == QueueSpec(visibility_timeout=9)


def test_missing_dlq_and_missing_queue(aws: AwsBackend) -> None:
    with pytest.raises(errors.QueueDoesNotExist):
        aws.create_queue(_name(), QueueSpec(redrive=RedrivePolicy("no-such-dlq", 3)))
    with pytest.raises(errors.QueueDoesNotExist):
        aws.get_queue("no-such-queue")
    aws.delete_queue("no-such-queue")  # idempotent


def test_attributes_round_trip_with_custom_types(aws: AwsBackend) -> None:
    queue = aws.create_queue(_name())
    attrs = {
        "s": Attribute.string("hé"),
        "n": Attribute.number(12.5),
        "b": Attribute("Binary", b"\x00\xff"),
        "j": Attribute("String.json", '{"a": 1}'),
        "i": Attribute("Number.int", "7"),
        "x": Attribute("Binary.gz", b"\x1f\x8b"),
    }
    queue.send("body", attrs)
    (msg,) = queue.receive(1, 1)
    assert dict(msg.attributes) == attrs
    assert msg.receive_count == 1
    assert msg.sent_timestamp_ms > 0 and msg.first_receive_timestamp_ms >= msg.sent_timestamp_ms
    record = msg.to_lambda_record(queue.arn, aws.region)
    assert record["messageAttributes"]["x"]["binaryValue"] == "H4s="
    assert record["eventSourceARN"] == queue.arn


def test_send_batch_mixes_local_and_remote_results(aws: AwsBackend) -> None:
    queue = aws.create_queue(_name())
    result = queue.send_batch(
        [SendEntry("ok", "a"), SendEntry("bad", "b", delay_seconds=901), SendEntry("ok2", "c")]
    )
    assert [r.id for r in result.successful] == ["ok", "ok2"]
    assert [(f.id, f.code) for f in result.failed] == [("bad", "InvalidParameterValue")]


def test_message_over_queue_limit_refused_before_the_call(aws: AwsBackend) -> None:
    queue = aws.create_queue(_name(), QueueSpec(max_message_size=1024))
    with pytest.raises(errors.MessageTooLong):
        queue.send("x" * 1025)


def test_idempotency_layer_is_powertools_dynamodb(aws: AwsBackend) -> None:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    first, second = aws.persistence_layer(), aws.persistence_layer()
    assert isinstance(first, DynamoDBPersistenceLayer)
    assert first is not second
    assert first.client is second.client is aws.client("dynamodb")
    ttl = aws.client("dynamodb").describe_time_to_live(TableName=aws.idempotency_table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiration"


def _client_error(code: str, status: int, message: str = "m") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Op",
    )


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("AWS.SimpleQueueService.NonExistentQueue", 400, errors.QueueDoesNotExist),
        ("QueueDoesNotExist", 400, errors.QueueDoesNotExist),
        ("AWS.SimpleQueueService.PurgeQueueInProgress", 403, errors.PurgeQueueInProgress),
        ("ReceiptHandleIsInvalid", 404, errors.ReceiptHandleIsInvalid),
        ("AWS.SimpleQueueService.MessageNotInflight", 400, errors.MessageNotInflight),
        ("TooManyEntriesInBatchRequest", 400, errors.TooManyEntriesInBatchRequest),
        ("RequestThrottled", 403, errors.QueueUnavailable),
        ("InternalError", 500, errors.QueueUnavailable),
        ("AccessDenied", 403, errors.ConfigError),
        ("OverLimit", 403, errors.QueueError),
    ],
)
def test_sqs_error_mapping(code: str, status: int, cls: type) -> None:
    mapped = sqs_error(_client_error(code, status), "send_message on queue 'q'")
    assert type(mapped) is cls
    assert "\n" not in str(mapped)


def test_transport_errors_are_unavailable() -> None:
    exc = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert isinstance(sqs_error(exc, "receive"), errors.QueueUnavailable)
    assert type(s3_error(exc, "b", "k", "read")) is errors.BlobError
    assert type(s3_error(_client_error("SlowDown", 503), "b", "k", "write")) is errors.BlobError
    assert type(s3_error(_client_error("NoSuchKey", 404), "b", "k", "read")) is errors.BlobNotFound


def test_unreachable_endpoint_is_one_clear_error() -> None:
    backend = AwsBackend("us-east-1", endpoint_url="http://127.0.0.1:9")
    # no retries here: the standard retry mode's backoff is tested by botocore itself
    import boto3
    from botocore.config import Config

    backend._clients["sqs"] = boto3.session.Session().client(
        "sqs",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(errors.QueueUnavailable, match="unreachable"):
        backend.get_queue("q")
