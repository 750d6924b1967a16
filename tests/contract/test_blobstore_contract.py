"""BlobStore contract: the claim-check store behaves like one S3 bucket."""

from __future__ import annotations

import os
import uuid

import pytest

from tayori.backends.base import Backend, BlobStore
from tayori.errors import BlobError, BlobNotFound, InvalidBlobKey


def new_key(prefix: str = "k") -> str:
    return f"{prefix}/{uuid.uuid4()}"


def test_protocol(blob_store: BlobStore, backend: Backend) -> None:
    assert isinstance(blob_store, BlobStore)
    assert blob_store.bucket == backend.default_bucket


def test_put_get_delete_round_trip(blob_store: BlobStore) -> None:
    key = new_key()
    blob_store.put(key, b"hello")
    assert blob_store.get(key) == b"hello"
    blob_store.put(key, b"replaced")  # overwrite
    assert blob_store.get(key) == b"replaced"
    blob_store.delete(key)
    with pytest.raises(BlobNotFound):
        blob_store.get(key)


def test_binary_and_empty_data(blob_store: BlobStore) -> None:
    data = bytes(range(256)) * 8 + os.urandom(4096)
    key = new_key("bin")
    blob_store.put(key, data)
    assert blob_store.get(key) == data
    empty = new_key("empty")
    blob_store.put(empty, b"")
    assert blob_store.get(empty) == b""


def test_large_blob(blob_store: BlobStore) -> None:
    data = os.urandom(1_100_000)  # over the largest SQS message: what claim-check is for
    key = new_key("big")
    blob_store.put(key, data)
    assert blob_store.get(key) == data


def test_bare_uuid_key_like_the_extended_client_writes(blob_store: BlobStore) -> None:
    key = str(uuid.uuid4())
    blob_store.put(key, b"x")
    assert blob_store.get(key) == b"x"


def test_get_missing_raises_blob_not_found(blob_store: BlobStore) -> None:
    with pytest.raises(BlobNotFound) as exc:
        blob_store.get(new_key("missing"))
    assert isinstance(exc.value, BlobError)


def test_get_a_prefix_is_not_found(blob_store: BlobStore) -> None:
    prefix = new_key("dir")
    blob_store.put(prefix + "/child", b"x")
    with pytest.raises(BlobNotFound):
        blob_store.get(prefix)


def test_delete_missing_is_fine(blob_store: BlobStore) -> None:
    blob_store.delete(new_key("missing"))
    key = new_key()
    blob_store.put(key, b"x")
    blob_store.delete(key)
    blob_store.delete(key)  # twice


def test_keys_are_isolated_from_each_other(blob_store: BlobStore) -> None:
    a, b = new_key("a"), new_key("b")
    blob_store.put(a, b"A")
    blob_store.put(b, b"B")
    blob_store.delete(a)
    assert blob_store.get(b) == b"B"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../x",
        "a/../../x",
        "a/..",
        "./a",
        "/etc/passwd",
        "/abs",
        "a//b",
        "a/",
        "a\\b",
        "nul\x00byte",
        "k" * 1025,
    ],
)
def test_unsafe_keys_are_refused(blob_store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKey):
        blob_store.put(key, b"x")
    with pytest.raises(InvalidBlobKey):
        blob_store.get(key)
    with pytest.raises(InvalidBlobKey):
        blob_store.delete(key)
