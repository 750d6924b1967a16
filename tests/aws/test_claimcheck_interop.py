"""tayori's claim-check codec against amazon-sqs-extended-client, both ways, over moto.

The extended client runs in a separate process (it patches boto3 globally).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tayori.backends.aws import AwsBackend
from tayori.backends.aws.sqs import SqsQueue
from tayori.backends.base import Attribute, QueueSpec
from tayori.wire import claimcheck

PEER = Path(__file__).with_name("extended_client_peer.py")
BUCKET = "tayori-interop"
LARGE = 300_000  # > 256 KiB
ALLOWED = frozenset({BUCKET})


@pytest.fixture
def aws(moto_url: str) -> AwsBackend:
    backend = AwsBackend("us-east-1", endpoint_url=moto_url, bucket=BUCKET)
    backend.create_resources()
    yield backend
    backend.close()


@pytest.fixture
def queue(aws: AwsBackend) -> SqsQueue:
    # 1 MiB: the extended client only offloads over 256 KiB, tayori's threshold is the same
    name = f"interop-{uuid.uuid4().hex[:8]}"
    return aws.create_queue(name, QueueSpec(max_message_size=1_048_576))


def peer(moto_url: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": moto_url, "AWS_DEFAULT_REGION": "us-east-1"}
    proc = subprocess.run(
        [sys.executable, str(PEER), *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _resolve(aws: AwsBackend, queue: SqsQueue) -> tuple[str, dict[str, Attribute]]:
    (msg,) = queue.receive(1, 2)
    body, pointer = claimcheck.resolve(msg.body, msg.attributes, aws.blob_store, ALLOWED)
    assert pointer is not None and pointer.bucket == BUCKET
    queue.delete(msg.receipt_handle)
    return body, claimcheck.strip_reserved(msg.attributes)


def test_extended_client_message_is_resolved_by_tayori(
    moto_url: str, aws: AwsBackend, queue: SqsQueue
) -> None:
    sent = peer(moto_url, "send", queue.url, BUCKET, str(LARGE))
    body, attrs = _resolve(aws, queue)
    assert len(body) == LARGE
    assert hashlib.sha256(body.encode()).hexdigest() == sent["sha256"]
    assert attrs == {"kind": Attribute.string("peer")}


def test_tayori_offload_is_read_by_extended_client(
    moto_url: str, aws: AwsBackend, queue: SqsQueue
) -> None:
    original = "é" * (LARGE // 2)  # multi-byte: the size attribute counts UTF-8 bytes
    body, attrs = claimcheck.offload(
        original, {"kind": Attribute.string("tayori")}, aws.blob_store(), 262_144
    )
    assert body.startswith(f'["{claimcheck.POINTER_CLASS}"')
    assert attrs[claimcheck.SIZE_ATTRIBUTE].value == str(len(original.encode()))
    queue.send(body, attrs)
    got = peer(moto_url, "receive", queue.url, BUCKET)
    assert got["bodies"] == [original]
    assert got["attributes"] == [{"kind": "tayori"}]


def test_legacy_size_attribute_both_ways(moto_url: str, aws: AwsBackend, queue: SqsQueue) -> None:
    # What the Java extended client 2.x sends by default: new pointer class, legacy attribute.
    store = aws.blob_store()
    store.put("legacy/one", b"legacy body")
    pointer = claimcheck.Pointer(BUCKET, "legacy/one").to_body()
    queue.send(pointer, {claimcheck.LEGACY_SIZE_ATTRIBUTE: Attribute.number(11)})
    body, attrs = _resolve(aws, queue)
    assert body == "legacy body" and attrs == {}
    # ... and the extended client reads the same shape when tayori (or Java) wrote it
    queue.send(pointer, {claimcheck.LEGACY_SIZE_ATTRIBUTE: Attribute.number(11)})
    assert peer(moto_url, "receive", queue.url, BUCKET)["bodies"] == ["legacy body"]


def test_python_extended_client_legacy_mode(
    moto_url: str, aws: AwsBackend, queue: SqsQueue
) -> None:
    """Python client with ``use_legacy_attribute=True`` writes the Java 1.x pointer class
    ``com.amazon.sqs.javamessaging.MessageS3Pointer`` and ``SQSLargePayloadSize``;
    tayori reads that shape too.
    """
    peer(moto_url, "send", queue.url, BUCKET, str(LARGE), "legacy")
    (msg,) = queue.receive(1, 2)
    assert claimcheck.LEGACY_SIZE_ATTRIBUTE in msg.attributes
    assert "com.amazon.sqs.javamessaging.MessageS3Pointer" in msg.body
    body, pointer = claimcheck.resolve(msg.body, msg.attributes, aws.blob_store, ALLOWED)
    assert len(body.encode()) == LARGE and pointer is not None and pointer.bucket == BUCKET
