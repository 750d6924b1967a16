"""One contract for the mail store (suppression list + broadcast outcomes), run unchanged on
the embedded ``SqliteMailStore`` and on ``DynamoDBMailStore`` against a real moto server;
plus a broadcast through the local runtime on an AWS-backed App using the default store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import tayori
from tayori.backends.aws.mail import DynamoDBMailStore, create_mail_table, mail_table_name
from tayori.backends.sqlite.mail import SqliteMailStore
from tayori.mail import Mailer, Templates
from tayori.mail.store import FAILED, SENT, SUPPRESSED, MailStore
from tayori.runtime.local import RuntimeConfig
from tayori.testing import MemoryTransport

STORES = ["sqlite", "dynamodb"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MailStore]:
    if request.param == "sqlite":
        made: Any = SqliteMailStore(tmp_path / "mail")
    else:
        url = request.getfixturevalue("moto_url")  # tests/fixtures/moto.py (fresh state)
        client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=url)
        create_mail_table(client, "tayori-mail")
        made = DynamoDBMailStore(client, "tayori-mail", shards=4)
    try:
        yield made
    finally:
        made.close()


def test_suppression_first_reason_wins_case_insensitive(store: MailStore) -> None:
    assert store.suppression_reason("a@example.com") is None
    store.suppress("A@Example.com", "bounce")
    store.suppress("a@example.com", "complaint")
    assert store.suppression_reason("a@EXAMPLE.com") == "bounce"
    store.unsuppress("A@example.COM")
    assert store.suppression_reason("a@example.com") is None
    store.unsuppress("a@example.com")  # idempotent


def test_broadcast_header_total_and_counts(store: MailStore) -> None:
    assert store.status("nope") is None
    store.start_broadcast("b1", "notice")
    store.start_broadcast("b1", "other")  # a producer retry keeps the first header
    first = store.status("b1")
    assert first is not None
    assert (first.template, first.total, first.done, first.pending) == ("notice", None, 0, None)
    store.set_total("b1", 4)
    store.set_total("missing", 3)  # no header: nothing happens
    assert store.status("missing") is None
    store.record("b1", "a@x.org", SENT, "id-1")
    store.record("b1", "b@x.org", FAILED, "550")
    store.record("b1", "c@x.org", SUPPRESSED, "bounce")
    got = store.status("b1")
    assert got is not None
    assert (got.sent, got.failed, got.suppressed, got.pending) == (1, 1, 1, 1)
    assert got.created_at == first.created_at
    assert got.to_dict()["pending"] == 1
    assert store.outcome("b1", "a@x.org") == SENT
    assert store.outcome("b1", "z@x.org") is None
    assert store.outcome("b2", "a@x.org") is None  # outcomes belong to one broadcast


def test_sent_is_never_downgraded_and_failed_upgrades(store: MailStore) -> None:
    store.start_broadcast("b", "notice")
    store.record("b", "a@x.org", SENT, "id-1")
    store.record("b", "a@x.org", FAILED, "late failure of a duplicate")
    store.record("b", "a@x.org", SUPPRESSED, "bounce")
    assert store.outcome("b", "a@x.org") == SENT
    store.record("b", "b@x.org", FAILED, "421 try later")
    store.record("b", "b@x.org", SENT, "id-2")  # the retry succeeded: moves, not adds
    assert store.outcome("b", "b@x.org") == SENT
    got = store.status("b")
    assert got is not None
    assert (got.sent, got.failed, got.suppressed) == (2, 0, 0)


def test_retried_and_concurrent_records_do_not_double_count(store: MailStore) -> None:
    store.start_broadcast("b", "notice")
    store.set_total("b", 6)
    for _ in range(3):  # a retried task records the same outcome again
        store.record("b", "a@x.org", SENT, "id-1")
        store.record("b", "f@x.org", FAILED, "550")
    recipients = [f"r{i}@x.org" for i in range(4)]

    def duplicate_delivery() -> None:  # two executions of the same sends race
        for r in recipients:
            store.record("b", r, SENT, "id")

    threads = [threading.Thread(target=duplicate_delivery) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = store.status("b")
    assert got is not None
    assert (got.sent, got.failed, got.suppressed, got.pending) == (5, 1, 0, 0)


def test_broadcasts_lists_newest_first(store: MailStore) -> None:
    assert store.broadcasts() == []
    for bid in ("old", "mid", "new"):
        store.start_broadcast(bid, "notice")
        time.sleep(0.01)
    store.record("new", "a@x.org", SENT)
    listed = store.broadcasts(limit=2)
    assert [s.id for s in listed] == ["new", "mid"]
    assert listed[0].sent == 1
    assert [s.id for s in store.broadcasts()] == ["new", "mid", "old"]


def test_dynamodb_record_retries_a_transaction_conflict(moto_url: str) -> None:
    """moto never reports TransactionConflict; a proxy injects it once (real DynamoDB does
    when two executions touch one counter shard at the same moment)."""
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_url)
    create_mail_table(client, "tayori-mail")
    conflicts = {"left": 1}

    class Conflicting:
        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

        def transact_write_items(self, **kw: Any) -> Any:
            if conflicts["left"]:
                conflicts["left"] -= 1
                reasons = [{"Code": "None"}, {"Code": "TransactionConflict"}]
                error = {"Error": {"Code": "TransactionCanceledException", "Message": "x"}}
                raise client.exceptions.TransactionCanceledException(
                    {**error, "CancellationReasons": reasons}, "TransactWriteItems"
                )
            return client.transact_write_items(**kw)

    store = DynamoDBMailStore(Conflicting(), "tayori-mail")
    store.start_broadcast("b", "notice")
    store.record("b", "a@x.org", SENT, "id-1")
    got = store.status("b")
    assert conflicts["left"] == 0
    assert got is not None and got.sent == 1


def test_mail_table_name_derives_from_the_idempotency_table() -> None:
    assert mail_table_name("tayori-idempotency") == "tayori-mail"
    assert mail_table_name("shop-idem") == "shop-idem-mail"


def test_mailer_on_aws_broadcasts_through_the_local_runtime(moto_url: str) -> None:
    settings = tayori.Settings(
        url="aws://?region=us-east-1",
        endpoint_url=moto_url,
        bucket="shop-blobs",
        idempotency_table="shop-idempotency",
        visibility_timeout=10,
    )
    app = tayori.App("shop", settings=settings)
    backend: Any = app.backend
    backend.create_resources()
    create_mail_table(backend.client("dynamodb"), "shop-mail")
    transport = MemoryTransport()
    mailer = Mailer(
        app,
        transport=transport,
        templates=Templates(sources={"hi.subject": "Hi", "hi.txt": "Hello {{ email }}"}),
        sender="news@example.com",
    )
    assert isinstance(mailer.store, DynamoDBMailStore)  # the AWS default
    assert mailer.store.table == "shop-mail"
    mailer.store.suppress("m0@example.com", "complaint")
    members = [f"m{i}@example.com" for i in range(30)]
    try:
        bid = mailer.broadcast("hi", [*members, "not an address"], broadcast_id="aws-1")
        app.runtime(RuntimeConfig(concurrency=4, poll_wait_seconds=0)).run_until_idle(timeout=120)
        got = mailer.status(bid)
        assert got is not None
        assert (got.total, got.sent, got.suppressed, got.failed, got.pending) == (31, 29, 1, 1, 0)
        assert sorted(m.to[0] for m in transport.outbox) == sorted(members[1:])
    finally:
        app.backend.close()
