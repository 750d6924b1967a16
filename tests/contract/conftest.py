"""Fixtures for the backend contract suite.

Every test in ``tests/contract`` takes its backend from the ``backend`` fixture and
builds queues, blob stores and idempotency layers only through the ``Backend``
protocol, so the same tests run unchanged on every backend in ``BACKENDS``.

Adding a backend = one entry in ``BACKENDS`` and one branch in ``make_backend``.
Rules the tests keep so that they also run against a shared moto server: unique
queue names per test, a few dozen messages at most, visibility timeouts of 1-2 s.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from tayori.backends.base import Backend, BlobStore, Queue, QueueSpec, RedrivePolicy

BACKENDS = ["sqlite", "aws", "memory"]


def make_backend(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Backend:
    """Build one backend of ``kind``; the single place that knows concrete classes."""
    if kind == "sqlite":
        from tayori.backends.sqlite import SqliteBackend

        return SqliteBackend(tmp_path / "tayori", bucket="tayori-test")
    if kind == "aws":
        url = request.getfixturevalue("moto_url")  # tests/fixtures/moto.py (resets state)
        from tayori.backends.aws import AwsBackend

        aws = AwsBackend("us-east-1", endpoint_url=url, bucket="tayori-test")
        aws.create_resources()  # bucket + idempotency table, as the template creates them
        return aws
    if kind == "memory":
        from tayori.testing import MemoryBackend

        return MemoryBackend(bucket="tayori-test")
    raise ValueError(f"unknown backend kind {kind!r}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made = make_backend(request.param, tmp_path, request)
    try:
        yield made
    finally:
        made.close()


def new_queue_name(prefix: str = "q") -> str:
    """A queue name no other test (or earlier run against the same server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def unique_name() -> Callable[..., str]:
    return new_queue_name


@pytest.fixture
def make_queue(backend: Backend) -> Callable[..., Queue]:
    """``make_queue(**spec_fields)`` creates a fresh, uniquely named queue."""

    def make(prefix: str = "q", **spec: Any) -> Queue:
        spec.setdefault("visibility_timeout", 2)
        return backend.create_queue(new_queue_name(prefix), QueueSpec(**spec))

    return make


@pytest.fixture
def queue(make_queue: Callable[..., Queue]) -> Queue:
    return make_queue()


@pytest.fixture
def queue_with_dlq(backend: Backend) -> tuple[Queue, Queue]:
    """(source, dlq): the source moves a message to the DLQ on its 3rd receive."""
    dlq = backend.create_queue(new_queue_name("dlq"), QueueSpec(visibility_timeout=2))
    source = backend.create_queue(
        new_queue_name("src"),
        QueueSpec(visibility_timeout=2, redrive=RedrivePolicy(dlq.name, max_receive_count=2)),
    )
    return source, dlq


@pytest.fixture
def blob_store(backend: Backend) -> BlobStore:
    return backend.blob_store(backend.default_bucket)


@pytest.fixture
def persistence_layer(backend: Backend) -> BasePersistenceLayer:
    """A fresh layer for ONE decorated function (Powertools keeps one config per instance).

    A test that decorates a second function asks ``backend.persistence_layer()`` again.
    """
    return backend.persistence_layer()
