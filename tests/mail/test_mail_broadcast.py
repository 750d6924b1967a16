"""Broadcasts through the local runtime: exactly one email per recipient, even with
duplicated deliveries and a retried producer; suppression; progress counts."""

from __future__ import annotations

import random
import threading
import tracemalloc
from typing import Any

import pytest

import tayori
from tayori.mail import (
    Mailer,
    SMTPTransport,
    TemplateError,
    Templates,
    Unsubscriber,
)
from tayori.runtime.local import RuntimeConfig
from tayori.testing import MemoryTransport, SimulatedProvider

TEMPLATES = {
    "notice.subject": "{{ group }}: {{ title }}",
    "notice.txt": "Hello {{ name | default('member') }},\n{{ title }}\n{{ unsubscribe_url }}\n",
    "notice.html": "<p>Hello {{ name | default('member') }}</p>",
    "bad.subject": "x",
    "bad.txt": "{{ nope.attr }}",
    "named.subject": "x",
    "named.txt": "{{ name.upper() }}",
}


def make_app(tmp_path, **settings: Any) -> tayori.App:
    return tayori.App("shop", settings=tayori.Settings(url=f"sqlite:///{tmp_path}/q", **settings))


def make_mailer(app: tayori.App, transport: Any, **kw: Any) -> Mailer:
    return Mailer(
        app,
        transport=transport,
        templates=Templates(sources=TEMPLATES),
        sender="Group News <news@example.com>",
        unsubscriber=Unsubscriber("secret-for-tests-0123456789", "https://example.com/u"),
        **kw,
    )


def run(app: tayori.App, handler: Any = None, timeout: float = 120) -> Any:
    config = RuntimeConfig(concurrency=20, batch_size=10, function_timeout=30.0)
    return app.runtime(config, handler=handler).run_until_idle(timeout=timeout)


def duplicating(app: tayori.App, rate: float, seed: int = 7):
    """A handler that re-enqueues a copy of some records before handling them (at-least-once)."""
    rnd, seen, lock = random.Random(seed), set(), threading.Lock()
    counts = {"duplicates": 0}

    def handler(event: dict, context: Any) -> Any:
        for record in event["Records"]:
            with lock:
                dup = record["messageId"] not in seen and rnd.random() < rate
                seen.add(record["messageId"])
                if dup:
                    counts["duplicates"] += 1
            if dup:
                queue = app.queue(record["eventSourceARN"].rsplit(":", 1)[-1])
                queue.send(record["body"])
        return app.lambda_handler(event, context)

    return handler, counts


@pytest.mark.parametrize("inline_limit", [1000, 25])  # inline list / chunks in the blob store
def test_exactly_once_with_duplicates(tmp_path, inline_limit: int) -> None:
    app = make_app(tmp_path)
    provider = SimulatedProvider()
    mailer = make_mailer(app, provider, inline_limit=inline_limit, chunk_size=40)
    people = [{"email": f"user{i}@example.org", "name": f"U{i}"} for i in range(300)]
    mailer.store.suppress("user7@example.org", "bounce:General")
    mailer.store.suppress("user8@example.org", "complaint:abuse")
    bid = mailer.broadcast("notice", people, {"group": "Chess", "title": "Meeting"}, "b-300")
    mailer.broadcast("notice", people, {"group": "Chess", "title": "Meeting"}, "b-300")  # retry
    handler, counts = duplicating(app, rate=0.3)
    stats = run(app, handler)
    assert stats.idle
    assert counts["duplicates"] > 50
    got = provider.per_recipient()
    expected = {p["email"] for p in people} - {"user7@example.org", "user8@example.org"}
    assert set(got) == expected
    assert set(got.values()) == {1}
    status = mailer.status(bid)
    assert status is not None
    assert (status.total, status.sent, status.suppressed, status.failed) == (300, 298, 2, 0)
    assert status.pending == 0
    subjects = {d.subject for d in provider.deliveries()}
    assert subjects == {"Chess: Meeting"}
    assert app.queue(app.dead_letter_queue_name("mail")).stats().total == 0


def test_messages_carry_unsubscribe_headers_and_personal_context(tmp_path) -> None:
    app = make_app(tmp_path)
    transport = MemoryTransport()
    mailer = make_mailer(app, transport)
    mailer.broadcast(
        "notice", [{"email": "Ann@Example.org", "name": "<Ann>"}], {"group": "G", "title": "T"}
    )
    run(app)
    [m] = transport.outbox
    assert m.to == ("Ann@Example.org",)
    assert m.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert m.headers["List-Unsubscribe"].startswith("<https://example.com/u?token=")
    assert "Hello <Ann>" in (m.text or "") and "&lt;Ann&gt;" in (m.html or "")
    token = m.headers["List-Unsubscribe"][1:-1].split("token=")[1]
    assert mailer.unsubscriber.verify(token).address == "ann@example.org"


def test_failures_are_counted_and_dead_lettered(tmp_path, smtp_server) -> None:
    app = make_app(tmp_path)
    transport = SMTPTransport(host=smtp_server.host, port=smtp_server.port)
    mailer = make_mailer(app, transport)
    recipients = ["ok@example.org", "reject@example.org", "not-an-address", "ok2@example.org"]
    bid = mailer.broadcast("notice", recipients, {"group": "G", "title": "T"})
    run(app)
    transport.close()
    assert sorted(smtp_server.recipients()) == ["ok2@example.org", "ok@example.org"]
    status = mailer.status(bid)
    assert (status.sent, status.failed, status.total) == (2, 2, 4)
    dlq = app.queue(app.dead_letter_queue_name("mail"))
    assert dlq.stats().total == 1  # the 550; the bad address never became a message


def test_render_error_names_template_and_recipient(tmp_path) -> None:
    app = make_app(tmp_path)
    mailer = make_mailer(app, MemoryTransport())
    with pytest.raises(TemplateError, match=r"bob@example\.org"):
        mailer.render("bad", "bob@example.org", {})
    with pytest.raises(TemplateError, match="'missing'"):
        mailer.broadcast("missing", ["a@example.org"])
    with pytest.raises(TemplateError, match=r"bob@example\.org"):  # pre-rendered: not queued
        mailer.broadcast("bad", ["bob@example.org"])
    assert app.queue("mail").stats().total == 0 and mailer.store.broadcasts() == []
    # a variable only some recipients lack fails for them alone, at send time
    people = [{"email": f"p{i}@example.org", "name": f"P{i}"} for i in range(3)]
    bid = mailer.broadcast("named", [*people, "bob@example.org"])
    run(app)
    status = mailer.status(bid)
    assert (status.sent, status.failed) == (3, 1)
    dlq = app.queue(app.dead_letter_queue_name("mail"))
    [dead] = dlq.receive(max_messages=1)
    reason = dead.attributes["tayori-error"].value
    assert "'named'" in reason and "bob@example.org" in reason


def test_recipients_are_streamed(tmp_path) -> None:
    app = make_app(tmp_path)
    mailer = make_mailer(app, MemoryTransport(), inline_limit=100, chunk_size=500)
    n = 20_000

    def people():
        for i in range(n):
            yield {"email": f"member{i:06d}@example.org", "name": f"Member number {i}"}

    tracemalloc.start()
    bid = mailer.broadcast("notice", people(), {"group": "G", "title": "T"})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert mailer.status(bid).total == n
    assert peak < 1_500_000, peak  # the whole list as dicts would take several MB
    blobs = list((tmp_path / "q" / "blobs").rglob("*.jsonl"))
    assert len(blobs) == n // 500


def test_django_style_direct_message_and_feedback_task(tmp_path) -> None:
    app = make_app(tmp_path)
    transport = MemoryTransport()
    mailer = make_mailer(app, transport)
    bounce = {
        "Type": "Notification",
        "Message": '{"notificationType":"Bounce","bounce":{"bounceType":"Permanent",'
        '"bounceSubType":"General","bouncedRecipients":[{"emailAddress":"Gone@example.org"}]}}',
    }
    mailer.feedback.send(bounce)
    run(app)
    assert mailer.store.suppression_reason("gone@example.org") == "bounce:General"
    from tayori.mail import Message

    mailer.send(Message(sender="a@example.com", to=("gone@example.org",), subject="s", text="t"))
    mailer.send(Message(sender="a@example.com", to=("here@example.org",), subject="s", text="t"))
    run(app)
    assert [m.to for m in transport.outbox] == [("here@example.org",)]
