"""What tayori's email backend delivers == what Django's own SMTP backend delivers.

Each message shape is sent twice to the same real SMTP server (aiosmtpd): once with
``django.core.mail.backends.smtp.EmailBackend``, once with tayori's backend (enqueued,
then sent by tayori's worker over SMTP). The envelope (MAIL FROM, RCPT TO) and the
DATA bytes must be equal. ``random`` is seeded the same before both sends, so Django's
MIME boundaries are equal too; where the message has its own Date and Message-ID the
bytes are compared whole, otherwise only those two generated headers are set aside
(and checked for shape) and every other byte is compared.
"""

from __future__ import annotations

import email
import email.policy
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
import pytest
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.test.utils import override_settings
from django.utils.translation import gettext_lazy

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
TAYORI_BACKEND = "tayori.contrib.django.EmailBackend"
FIXED = {"Date": "Tue, 01 Dec 2026 08:00:00 -0000", "Message-ID": "<fixed.1@example.com>"}
PNG = bytes(range(256)) * 4  # binary content: base64 in both


def _inline_image(msg: EmailMessage) -> None:
    if django.VERSION >= (6, 0):
        from email.message import MIMEPart

        part = MIMEPart()
        part.set_content(PNG, maintype="image", subtype="png", disposition="inline", cid="<logo>")
        part.set_param("name", "logo.png")
        msg.attach(part)
    else:
        from email.mime.image import MIMEImage

        img = MIMEImage(PNG, "png")
        img.add_header("Content-ID", "<logo>")
        img.add_header("Content-Disposition", "inline", filename="logo.png")
        msg.attach(img)


def plain(tmp: Path) -> list[EmailMessage]:
    return [EmailMessage("Hello", "Plain body.\n", "from@example.com", ["to@example.com"])]


def default_sender(tmp: Path) -> list[EmailMessage]:  # DEFAULT_FROM_EMAIL webmaster@localhost
    return [EmailMessage("Default sender", "body", None, ["to@example.com"])]


def lazy_strings(tmp: Path) -> list[EmailMessage]:
    return [
        EmailMessage(
            gettext_lazy("Lazy subject"),
            gettext_lazy("Lazy body"),
            gettext_lazy("lazy@example.com"),
            [gettext_lazy("to@example.com")],
            reply_to=[gettext_lazy("reply@example.com")],
        )
    ]


def idn_and_names(tmp: Path) -> list[EmailMessage]:
    return [
        EmailMessage(
            "Grüße aus Köln — ünïcödé subject that is long enough to be folded by the generator",
            "Körper mit Umlauten: äöü ß.\n",
            "Jörg Müller <from@öäü.com>",
            ["Zoë <to@öäü.com>", '"Last, First" <last@example.com>'],
            cc=["Ça Va <cc@example.com>"],
        )
    ]


def fixed_date_and_id(tmp: Path) -> list[EmailMessage]:
    return [EmailMessage("Fixed", "body", "from@example.com", ["to@example.com"], headers=FIXED)]


def reply_to_list_and_bcc(tmp: Path) -> list[EmailMessage]:
    return [
        EmailMessage(
            "Reply-To list",
            "body",
            "from@example.com",
            ["to@example.com"],
            bcc=["hidden1@example.com", "hidden2@example.com"],
            cc=["cc@example.com"],
            reply_to=["r1@example.com", "Second <r2@example.com>"],
        )
    ]


def header_overrides(tmp: Path) -> list[EmailMessage]:
    return [
        EmailMessage(
            "Overrides",
            "body",
            "bounces@example.com",
            ["real@example.com"],
            headers={
                "From": "Newsletter <news@example.com>",
                "To": "Subscribers <list@example.com>",
                "Reply-To": "override@example.com",
                "X-Custom": "yes",
                "List-Unsubscribe": "<https://example.com/u>",
            },
            reply_to=["ignored@example.com"],
        )
    ]


def html_only(tmp: Path) -> list[EmailMessage]:
    msg = EmailMessage("HTML", "<p>hi</p>", "from@example.com", ["to@example.com"])
    msg.content_subtype = "html"
    return [msg]


def alternatives(tmp: Path) -> list[EmailMessage]:
    msg = EmailMultiAlternatives(
        "Alternatives", "text ä", "from@example.com", ["to@example.com"], headers=FIXED
    )
    msg.attach_alternative("<p>html ä</p>", "text/html")
    msg.attach_alternative("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar")
    return [msg]


def long_lines_and_8bit(tmp: Path) -> list[EmailMessage]:
    body = ("x" * 1200) + "\n" + ("é" * 50) + "\n.leading dot\nFrom the start\n"
    return [EmailMessage("Long", body, "from@example.com", ["to@example.com"])]


def latin1_encoding(tmp: Path) -> list[EmailMessage]:
    msg = EmailMessage("Café", "Crème brûlée", "Café <from@example.com>", ["to@example.com"])
    msg.encoding = "iso-8859-1"
    return [msg]


def attachments(tmp: Path) -> list[EmailMessage]:
    path = tmp / "rapport-été.pdf"
    path.write_bytes(b"%PDF-1.4 fake " * 20)
    msg = EmailMultiAlternatives(
        "Attachments", "see attached", "from@example.com", ["to@example.com"], headers=FIXED
    )
    msg.attach_alternative("<p>see attached <img src='cid:logo'></p>", "text/html")
    msg.attach("notes.txt", "plain text attachment ü\n", "text/plain")
    msg.attach("données.bin", PNG, "application/octet-stream")
    inner = EmailMessage("inner", "inner body", "a@example.com", ["b@example.com"], headers=FIXED)
    msg.attach("message.eml", inner.message())
    msg.attach_file(str(path))
    _inline_image(msg)
    return [msg]


def big_attachment(tmp: Path) -> list[EmailMessage]:  # over the queue limit: the claim-check
    data = random.Random(7).randbytes(400_000)
    msg = EmailMessage("Big", "big", "from@example.com", ["to@example.com"], headers=FIXED)
    msg.attach("big.bin", data, "application/octet-stream")
    return [msg]


def several(tmp: Path) -> list[EmailMessage]:  # send_mass_mail's shape: one connection
    return [
        EmailMessage(f"Mass {i}", f"body {i}", "from@example.com", [f"to{i}@example.com"])
        for i in range(3)
    ]


SHAPES: dict[str, Callable[[Path], list[EmailMessage]]] = {
    f.__name__: f
    for f in (
        plain,
        default_sender,
        lazy_strings,
        idn_and_names,
        fixed_date_and_id,
        reply_to_list_and_bcc,
        header_overrides,
        html_only,
        alternatives,
        long_lines_and_8bit,
        latin1_encoding,
        attachments,
        big_attachment,
        several,
    )
}

_GENERATED = re.compile(rb"^(Date|Message-ID): [^\r]*\r\n(?:[ \t][^\r]*\r\n)*", re.M | re.I)


def _split(data: bytes) -> tuple[bytes, bytes]:
    head, sep, body = data.partition(b"\r\n\r\n")
    return head + sep, body


def _comparable(data: bytes) -> tuple[bytes, list[bytes]]:
    """The bytes without the top-level generated Date / Message-ID, and those headers."""
    head, body = _split(data)
    generated = [m.group(0) for m in _GENERATED.finditer(head)]
    return _GENERATED.sub(b"", head) + body, generated


def _send(backend: str, messages: list[EmailMessage], server: Any) -> int:
    state = random.getstate()
    random.seed(1234)  # same MIME boundaries (and Message-ID random part) for both backends
    try:
        conn = mail.get_connection(backend, host=server.host, port=server.port)
        return conn.send_messages(messages)
    finally:
        random.setstate(state)


def _received(server: Any) -> list[tuple[str, list[str], bytes]]:
    with server.lock:
        got = [(m.mail_from, list(m.rcpt_tos), m.data) for m in server.messages]
    server.clear()
    return sorted(got, key=lambda r: r[1])


@pytest.mark.parametrize("shape", list(SHAPES))
def test_tayori_delivers_what_djangos_smtp_backend_delivers(
    shape: str, project: Any, drain: Any, tmp_path: Path
) -> None:
    server = project
    build = SHAPES[shape]
    assert _send(SMTP_BACKEND, build(tmp_path), server) == len(build(tmp_path))
    expected = _received(server)
    assert expected, "Django's SMTP backend delivered nothing"

    assert _send(TAYORI_BACKEND, build(tmp_path), server) == len(expected)
    assert server.messages == []  # enqueued, not sent inline
    drain()
    actual = _received(server)

    assert [(f, r) for f, r, _ in actual] == [(f, r) for f, r, _ in expected]  # the envelope
    for (_, _, want), (_, _, got) in zip(expected, actual, strict=True):
        head = _split(want)[0]
        if b"\r\nDate: " in b"\r\n" + head and FIXED["Message-ID"].encode() in head:
            assert got == want  # fully deterministic: byte for byte
            continue
        want_rest, want_generated = _comparable(want)
        got_rest, got_generated = _comparable(got)
        assert got_rest == want_rest  # every byte but the generated Date / Message-ID
        assert [g.split(b":")[0] for g in got_generated] == [
            g.split(b":")[0] for g in want_generated
        ]
        parsed = email.message_from_bytes(got, policy=email.policy.default)
        assert parsed["Date"].datetime is not None
        want_domain = re.search(rb"@([^>]+)>", b"".join(want_generated))
        assert want_domain and want_domain.group(0) in b"".join(got_generated)


def test_bcc_is_in_the_envelope_only(project: Any, drain: Any) -> None:
    msg = EmailMessage("S", "b", "f@example.com", ["t@example.com"], bcc=["secret@example.com"])
    assert msg.send() == 1
    drain()
    (received,) = project.messages
    assert received.rcpt_tos == ["t@example.com", "secret@example.com"]
    assert b"secret@example.com" not in received.data


def test_mail_admins_and_managers_from_djangos_default_senders(project: Any, drain: Any) -> None:
    """SERVER_EMAIL root@localhost and DEFAULT_FROM_EMAIL webmaster@localhost are Django's
    defaults; error reports go through mail_admins(fail_silently=True)."""
    mail.mail_admins("Error", "traceback", fail_silently=True)
    mail.mail_managers("Note", "body", html_message="<p>body</p>")
    mail.send_mail("Default", "body", None, ["user@example.com"])
    drain()
    ops = "ops@" + "öäü.example".encode("idna").decode("ascii")  # IDNA, as Django does
    assert sorted(m.mail_from for m in project.messages) == [
        "root@localhost",
        "root@localhost",
        "webmaster@localhost",
    ]
    assert sorted(r for m in project.messages for r in m.rcpt_tos) == [
        "admin@example.com",
        "manager@example.com",
        ops,
        "user@example.com",
    ]


def test_invalid_address_raises_like_django_even_when_fail_silently(project: Any) -> None:
    for backend in (SMTP_BACKEND, TAYORI_BACKEND):
        conn = mail.get_connection(backend, fail_silently=True)
        bad = EmailMessage("S", "b", "from@example.com", ["not an address <<"])
        with pytest.raises(ValueError):
            conn.send_messages([bad])
        with pytest.raises(ValueError):  # BadHeaderError is a ValueError
            mail.send_mail("Hi\nBcc: x@example.net", "x", None, ["a@example.org"], connection=conn)


def test_queue_unreachable_raises_or_is_quiet_with_fail_silently(project: Any, tmp_path: Path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the queue directory should be")
    with override_settings(TAYORI={"URL": f"sqlite:///{blocked}"}):
        from tayori.errors import TayoriError

        msg = EmailMessage("S", "b", "from@example.com", ["to@example.com"])
        assert mail.get_connection(fail_silently=True).send_messages([msg]) == 0
        assert msg.send(fail_silently=True) == 0
        with pytest.raises((TayoriError, OSError)):  # the queue's directory is a file
            EmailMessage("S", "b", "from@example.com", ["to@example.com"]).send()


def test_connection_api_open_close_context_manager(project: Any, drain: Any) -> None:
    conn = mail.get_connection()
    assert conn.open() is True and conn.open() is False
    conn.close()
    with mail.get_connection() as conn:
        assert conn.mailer is not None
        sent = conn.send_messages(
            [EmailMessage(f"S{i}", "b", "f@example.com", ["t@example.com"]) for i in range(2)]
        )
        assert sent == 2
        assert conn.mailer is not None  # still open inside the block
    assert conn.mailer is None
    assert conn.send_messages([]) == 0
    assert conn.send_messages([EmailMessage("no recipients", "b", "f@example.com", [])]) == 0
    drain()
    assert len(project.messages) == 2
