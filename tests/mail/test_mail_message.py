"""Message validation: header injection and bad addresses are refused before sending."""

from __future__ import annotations

import pytest

from tayori.errors import PermanentError
from tayori.mail import HeaderInjection, InvalidAddress, InvalidMessage, Message


def make(**kw: object) -> Message:
    base: dict[str, object] = {
        "sender": "News <news@example.com>",
        "to": ("a@example.org",),
        "subject": "Hello",
        "text": "hi",
    }
    base.update(kw)
    return Message(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field,value",
    [
        ("subject", "Hi\r\nBcc: victim@example.net"),
        ("subject", "Hi\nX: y"),
        ("sender", "Evil\r\nBcc: x@example.net <news@example.com>"),
        ("to", ("a@example.org\r\nBcc: x@example.net",)),
        ("reply_to", "r@example.org\nX: y"),
        ("headers", {"X-Tag": "a\r\nBcc: x@example.net"}),
        ("headers", {"X-Bad\r\nBcc": "x"}),
    ],
)
def test_header_injection_is_rejected(field: str, value: object) -> None:
    with pytest.raises(HeaderInjection):
        make(**{field: value})


@pytest.mark.parametrize(
    "address",
    [
        "",
        "plain",
        "a@b",
        "a@@b.com",
        "a@-b.com",
        "a..b@example.com",
        ".a@example.com",
        "a b@example.com",
        "a@exa mple.com",
        "<a@example.com",
        "a@example.com>x",
    ],
)
def test_invalid_address_is_rejected(address: str) -> None:
    with pytest.raises(InvalidAddress):
        make(to=(address,))


def test_errors_are_permanent() -> None:
    assert issubclass(InvalidMessage, PermanentError)


def test_needs_a_body_and_a_recipient() -> None:
    with pytest.raises(InvalidMessage):
        make(text=None, html=None)
    with pytest.raises(InvalidMessage):
        make(to=())


def test_reserved_header_cannot_be_overridden() -> None:
    with pytest.raises(InvalidMessage):
        make(headers={"Bcc": "x@example.net"})


def test_mime_form_and_round_trip() -> None:
    msg = make(
        html="<p>hi</p>",
        cc=("C <c@example.org>",),
        bcc=("b@example.org",),
        headers={"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    mime = msg.to_mime()
    assert mime["Subject"] == "Hello"
    assert mime["From"] == "News <news@example.com>"
    assert "Bcc" not in mime
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mime.is_multipart()
    assert msg.recipients == ("a@example.org", "c@example.org", "b@example.org")
    assert Message.from_dict(msg.to_dict()) == msg


def test_unicode_subject_and_name_are_encoded() -> None:
    msg = make(subject="お知らせ", sender="便り <news@example.com>")
    raw = msg.as_bytes()
    assert b"=?utf-8?" in raw
    assert raw.isascii()
