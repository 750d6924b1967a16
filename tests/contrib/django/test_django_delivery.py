"""What tayori adds to Django's mail: identical bytes on every attempt, no duplicate send on
redelivery, the suppression list, the rate limit, large attachments via the claim-check."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core import mail
from django.core.mail import EmailMessage
from django.test.utils import override_settings

from tayori.contrib.django import conf
from tayori.contrib.django.transport import smtp_from_django
from tayori.errors import RetryLater


class FlakyOnce:
    """The real SMTP transport, failing its first attempt the way a busy server does."""

    def __init__(self) -> None:
        self.inner = smtp_from_django()
        self.attempts: list[bytes] = []

    def send_raw(self, sender: str, recipients: list[str], data: bytes) -> str:
        self.attempts.append(data)
        if len(self.attempts) == 1:
            raise RetryLater(0, "421 try again")
        return self.inner.send_raw(sender, recipients, data)

    def close(self) -> None:
        self.inner.close()


def _tayori(tmp_path: Path, **extra: Any) -> Any:
    return override_settings(TAYORI={"URL": f"sqlite:///{tmp_path}/tayori", **extra})


def test_a_retried_message_is_sent_with_the_same_bytes(project: Any, drain: Any, tmp_path):
    flaky = FlakyOnce()
    with _tayori(tmp_path, EMAIL_TRANSPORT=flaky):
        assert mail.send_mail("Retry", "body", "f@example.com", ["t@example.com"]) == 1
        drain()
    first, second = flaky.attempts
    assert first == second and b"Message-ID: <" in first and b"Date: " in first
    (received,) = project.messages
    assert received.data.rstrip(b"\r\n") == first.rstrip(b"\r\n")


def test_a_duplicate_delivery_does_not_send_twice(project: Any) -> None:
    """SQS is at-least-once: the same record handed to the function twice sends once."""
    assert mail.send_mail("Once", "body", "f@example.com", ["t@example.com"]) == 1
    app = conf.get_app()
    queue = app.queue("mail")
    (message,) = queue.receive(max_messages=1)
    event = {"Records": [message.to_lambda_record(queue.arn, "local")]}
    assert app.lambda_handler(event) == {"batchItemFailures": []}
    assert app.lambda_handler(event) == {"batchItemFailures": []}
    assert len(project.messages) == 1


def test_suppressed_recipients_are_left_out_of_the_envelope(project: Any, drain: Any) -> None:
    conf.get_mailer().store.suppress("gone@example.org", "bounce:General")
    EmailMessage("S", "b", "f@example.com", ["ok@example.org"], bcc=["Gone@example.org"]).send()
    EmailMessage("S2", "b", "f@example.com", ["gone@example.org"]).send()
    drain()
    (received,) = project.messages  # the all-suppressed message is not sent at all
    assert received.rcpt_tos == ["ok@example.org"]


def test_rate_limit_spaces_sends(project: Any, drain: Any, tmp_path: Path) -> None:
    rate = 10.0
    with _tayori(tmp_path, EMAIL_RATE_LIMIT=rate):
        assert conf.get_mailer().limiter.rate == rate
        n = 5
        mail.send_mass_mail(
            [(f"S{i}", "b", "f@example.com", [f"t{i}@example.org"]) for i in range(n)]
        )
        start = time.monotonic()
        drain()
        elapsed = time.monotonic() - start
    assert len(project.messages) == n
    assert elapsed >= (n - 1) / rate * 0.9  # burst 1: the 2nd..nth each wait 1/rate


def test_a_large_attachment_rides_the_claim_check(project: Any, drain: Any) -> None:
    msg = EmailMessage("Big", "b", "f@example.com", ["t@example.com"])
    msg.attach("big.bin", bytes(300_000), "application/octet-stream")
    assert msg.send() == 1
    app = conf.get_app()
    blobs = Path(app.settings.sqlite_path) / "blobs"
    assert any(p.is_file() for p in blobs.rglob("*"))  # the body went to the blob store
    drain()
    (received,) = project.messages
    assert len(received.data) > 300_000
    assert not any(p.is_file() for p in blobs.rglob("*"))  # deleted after success
