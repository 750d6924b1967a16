"""Django's send_mail / send_mass_mail through tayori.contrib.django.EmailBackend."""

from __future__ import annotations

import pytest

django = pytest.importorskip("django")  # in the `test` extra; skipped only if not installed

from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        EMAIL_BACKEND="tayori.contrib.django.EmailBackend",
        DEFAULT_FROM_EMAIL="site@example.com",
        USE_TZ=True,
    )
    django.setup()

from django.core import mail  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

import tayori  # noqa: E402
from tayori.mail import InvalidMessage, Mailer, MemoryTransport, Templates  # noqa: E402
from tayori.runtime.local import RuntimeConfig  # noqa: E402


@pytest.fixture
def mailer(tmp_path):
    app = tayori.App("site", settings=tayori.Settings(url=f"sqlite:///{tmp_path}/q"))
    return Mailer(
        app, transport=MemoryTransport(), templates=Templates(sources={}), sender="site@example.com"
    )


def drain(mailer: Mailer) -> None:
    mailer.app.runtime(RuntimeConfig(concurrency=4)).run_until_idle(timeout=60)


def test_send_mail_and_send_mass_mail_are_queued_then_sent(mailer) -> None:
    with override_settings(TAYORI_MAILER=mailer):
        assert (
            mail.send_mail("Hi", "text body", None, ["a@example.org"], html_message="<p>html</p>")
            == 1
        )
        assert (
            mail.send_mass_mail(
                [
                    ("S1", "b1", "from@example.com", ["b@example.org"]),
                    ("S2", "b2", "from@example.com", ["c@example.org", "d@example.org"]),
                ]
            )
            == 2
        )
    assert mailer.transport.outbox == []  # queued, not sent inline
    drain(mailer)
    outbox = sorted(mailer.transport.outbox, key=lambda m: m.subject)
    assert [(m.subject, m.to) for m in outbox] == [
        ("Hi", ("a@example.org",)),
        ("S1", ("b@example.org",)),
        ("S2", ("c@example.org", "d@example.org")),
    ]
    assert outbox[0].sender == "site@example.com" and outbox[0].html == "<p>html</p>"


def test_suppressed_recipients_are_skipped(mailer) -> None:
    mailer.store.suppress("gone@example.org", "bounce:General")
    with override_settings(TAYORI_MAILER=mailer):
        mail.send_mail("Hi", "x", None, ["gone@example.org"])
    drain(mailer)
    assert mailer.transport.outbox == []


def test_injection_and_attachments_refused_unless_fail_silently(mailer) -> None:
    with override_settings(TAYORI_MAILER=mailer):
        with pytest.raises(InvalidMessage):
            mail.send_mail("Hi\nBcc: x@example.net", "x", None, ["a@example.org"])
        msg = mail.EmailMessage("S", "b", None, ["a@example.org"])
        msg.attach("a.txt", "data", "text/plain")
        with pytest.raises(InvalidMessage):
            msg.send()
        quiet = mail.EmailMessage("S", "b", None, ["a@example.org"])
        quiet.attach("a.txt", "data", "text/plain")
        assert quiet.send(fail_silently=True) == 0
