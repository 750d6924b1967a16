"""A typed, frozen email message that refuses header injection and bad addresses.

Every transport builds its wire form from this one type, so a CR/LF smuggled into
a subject, a display name or an address is rejected once, before anything is sent.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import Any

from tayori.errors import HeaderInjection, InvalidAddress, InvalidMessage

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_ANGLE = re.compile(r"^([^<>]*)<([^<>]*)>\s*$")
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # printable ASCII without ':'
# headers the message type sets itself; callers may not override them via ``headers``
_RESERVED = {
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "reply-to",
    "content-type",
    "content-transfer-encoding",
    "mime-version",
}


def check_header_value(name: str, value: str) -> str:
    """Refuse CR, LF and NUL: they would start a new header or body in the wire form."""
    if not isinstance(value, str):
        raise InvalidMessage(f"header {name} must be a string, got {type(value).__name__}")
    if any(ch in value for ch in "\r\n\x00"):
        raise HeaderInjection(f"header {name} contains a line break or NUL: {value[:60]!r}")
    return value


def check_address(value: str, *, field_name: str = "address") -> str:
    """Return the bare ``local@domain`` of ``value`` (``Name <a@b>`` allowed), or raise."""
    name, addr = split_address(check_header_value(field_name, value))
    if not addr or "@" not in addr or any(c in name for c in "<>"):
        raise InvalidAddress(f"{field_name} {value!r} is not an email address")
    local, _, domain = addr.rpartition("@")
    labels = domain.split(".")
    if (
        not _LOCAL.match(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or len(labels) < 2
        or not all(_LABEL.match(lbl) for lbl in labels)
        or len(addr) > 254
    ):
        raise InvalidAddress(f"{field_name} {value!r} is not a valid email address")
    return addr


def split_address(value: str) -> tuple[str, str]:
    """``Name <addr>`` or bare ``addr`` -> (name, addr), taken literally (no lenient parsing)."""
    match = _ANGLE.match(value)
    if match is None:
        return "", value.strip()
    name = match.group(1).strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"')
    return name, match.group(2)


def _mailbox(value: str, field_name: str) -> str:
    """Normalised ``Name <addr>`` (or bare addr) after validation."""
    addr = check_address(value, field_name=field_name)
    name, _ = split_address(value)
    return formataddr((name, addr)) if name else addr


@dataclass(frozen=True, slots=True)
class Message:
    """One email to one or more recipients; validated on construction."""

    sender: str
    to: tuple[str, ...]
    subject: str
    text: str | None = None
    html: str | None = None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        to = (self.to,) if isinstance(self.to, str) else tuple(self.to)
        cc = (self.cc,) if isinstance(self.cc, str) else tuple(self.cc)
        bcc = (self.bcc,) if isinstance(self.bcc, str) else tuple(self.bcc)
        if not (to or cc or bcc):
            raise InvalidMessage("message has no recipients")
        set_ = object.__setattr__
        set_(self, "sender", _mailbox(self.sender, "sender"))
        set_(self, "to", tuple(_mailbox(a, "recipient") for a in to))
        set_(self, "cc", tuple(_mailbox(a, "cc") for a in cc))
        set_(self, "bcc", tuple(_mailbox(a, "bcc") for a in bcc))
        if self.reply_to is not None:
            set_(self, "reply_to", _mailbox(self.reply_to, "reply-to"))
        check_header_value("Subject", self.subject)
        if self.text is None and self.html is None:
            raise InvalidMessage("message has neither a text nor an HTML part")
        headers: dict[str, str] = {}
        for name, value in dict(self.headers).items():
            if not isinstance(name, str) or not _HEADER_NAME.match(name):
                raise HeaderInjection(f"invalid header name {name!r}")
            if name.lower() in _RESERVED:
                raise InvalidMessage(f"header {name} is set by the message itself")
            headers[name] = check_header_value(name, value)
        set_(self, "headers", headers)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Bare addresses of every envelope recipient (To, Cc and Bcc)."""
        return tuple(split_address(a)[1] for a in (*self.to, *self.cc, *self.bcc))

    @property
    def envelope_sender(self) -> str:
        return split_address(self.sender)[1]

    def to_mime(self, message_id_domain: str | None = None) -> EmailMessage:
        """The RFC 5322 form (Bcc is not written: it only goes to the envelope)."""
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = self.sender
        if self.to:
            msg["To"] = ", ".join(self.to)
        if self.cc:
            msg["Cc"] = ", ".join(self.cc)
        if self.reply_to:
            msg["Reply-To"] = self.reply_to
        msg["Subject"] = self.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        domain = message_id_domain or self.envelope_sender.rpartition("@")[2]
        if "Message-ID" not in self.headers:
            msg["Message-ID"] = make_msgid(domain=domain)
        for name, value in self.headers.items():
            msg[name] = value
        if self.text is not None:
            msg.set_content(self.text)
            if self.html is not None:
                msg.add_alternative(self.html, subtype="html")
        else:
            msg.set_content(self.html or "", subtype="html")
        return msg

    def as_bytes(self) -> bytes:
        return self.to_mime().as_bytes()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for task payloads."""
        return {
            "sender": self.sender,
            "to": list(self.to),
            "cc": list(self.cc),
            "bcc": list(self.bcc),
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "reply_to": self.reply_to,
            "headers": dict(self.headers),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        return cls(
            sender=data["sender"],
            to=tuple(data.get("to") or ()),
            cc=tuple(data.get("cc") or ()),
            bcc=tuple(data.get("bcc") or ()),
            subject=data.get("subject", ""),
            text=data.get("text"),
            html=data.get("html"),
            reply_to=data.get("reply_to"),
            headers=dict(data.get("headers") or {}),
        )


def address_of(recipient: str | Address) -> str:
    """Lower-cased bare address: the identity used for suppression and idempotency."""
    return split_address(str(recipient))[1].lower()


def normalise_recipients(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(check_address(v) for v in values)
