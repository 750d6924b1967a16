"""Broadcast recovery on the embedded backend: list the failed recipients with their
reasons, re-send exactly those once the cause is fixed, never a second copy."""

from __future__ import annotations

from collections import Counter
from typing import Any

import tayori
from tayori.consumer.retry import RetryPolicy
from tayori.errors import PermanentError
from tayori.mail import Mailer, Templates
from tayori.mail.recovery import describe, failed_recipients, retry_failed
from tayori.runtime.local import RuntimeConfig
from tayori.testing import MemoryTransport


class Refusing(MemoryTransport):
    """A provider that hard-refuses some addresses until told otherwise."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = refused

    def send(self, message: Any) -> str:
        if message.to[0] in self.refused:
            raise PermanentError(f"550 5.1.1 {message.to[0]}: mailbox unavailable")
        return super().send(message)


def _run(app: tayori.App) -> None:
    config = RuntimeConfig(concurrency=8, batch_size=10, function_timeout=30.0)
    app.runtime(config).run_until_idle(timeout=60)


def test_retry_failed_resends_exactly_the_failed_recipients(tmp_path) -> None:
    app = tayori.App("shop", settings=tayori.Settings(url=f"sqlite:///{tmp_path}/q"))
    people = [f"p{i}@example.org" for i in range(30)]
    refused = {people[3], people[17], people[29]}
    transport = Refusing(set(refused))
    mailer = Mailer(
        app,
        transport=transport,
        templates=Templates(sources={"n.subject": "hi", "n.txt": "hello"}),
        sender="news@example.com",
    )
    bid = mailer.broadcast("n", [*people, "not-an-address"])
    _run(app)
    status = mailer.status(bid)
    assert (status.sent, status.failed) == (27, 4)
    failed = {f.recipient: f.reason for f in failed_recipients(mailer.store, bid)}
    assert set(failed) == {*refused, "not-an-address"}
    assert all("mailbox unavailable" in failed[r] for r in refused)

    transport.refused.clear()  # the provider accepts them again
    result = retry_failed(mailer.store, app.backend, bid)
    assert result.requeued == 3 and result.failed == 4
    assert result.not_found == ["not-an-address"]  # refused at fan-out: no dead letter
    assert "3 of 4 failed recipients re-queued" in describe(result)
    _run(app)
    assert mailer.status(bid).sent == 30
    copies = Counter(m.to[0] for m in transport.outbox)
    assert set(copies) == set(people) and set(copies.values()) == {1}

    again = retry_failed(mailer.store, app.backend, bid)  # nothing left to re-send
    assert again.requeued == 0 and again.not_found == ["not-an-address"]
    _run(app)
    assert len(transport.outbox) == 30


class Busy(MemoryTransport):
    """A provider that answers some addresses with a transient error, every time."""

    def __init__(self, busy: set[str]) -> None:
        super().__init__()
        self.busy = busy

    def send(self, message: Any) -> str:
        if message.to[0] in self.busy:
            raise TimeoutError(f"421 4.7.0 {message.to[0]}: try again later")
        return super().send(message)


def test_a_send_given_up_after_transient_errors_is_listed_and_resent(tmp_path) -> None:
    """Retries used up (never a PermanentError): the dead letter's recipient is failed too,
    so `broadcast failed` names it and `broadcast retry` re-sends it once."""
    app = tayori.App("shop", settings=tayori.Settings(url=f"sqlite:///{tmp_path}/q"))
    app.set_retry_policy("mail", RetryPolicy(base_seconds=0.01))  # 1 s per retry
    people = [f"p{i}@example.org" for i in range(12)]
    transport = Busy({people[5]})
    mailer = Mailer(
        app,
        transport=transport,
        templates=Templates(sources={"n.subject": "hi", "n.txt": "hello"}),
        sender="news@example.com",
    )
    bid = mailer.broadcast("n", people)
    _run(app)
    limit = app.backend.get_queue("mail").spec().redrive.max_receive_count
    failed = failed_recipients(mailer.store, bid)
    assert [f.recipient for f in failed] == [people[5]]
    assert f"gave up after {limit} attempts" in failed[0].reason
    assert "try again later" in failed[0].reason
    assert (mailer.status(bid).sent, mailer.status(bid).failed) == (11, 1)

    transport.busy.clear()
    result = retry_failed(mailer.store, app.backend, bid)
    assert (result.requeued, result.not_found) == (1, [])
    _run(app)
    assert mailer.status(bid).sent == 12 and mailer.status(bid).failed == 0
    assert sorted(m.to[0] for m in transport.outbox) == sorted(people)
