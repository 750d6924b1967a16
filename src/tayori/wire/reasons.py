"""Why a message was dead-lettered, on the wire: the ``tayori-error`` attributes.

A reason comes from an exception anyone's code raised, so building it must never fail
and it must never hold a character SQS refuses in an attribute value (an ANSI colour
code in a library's message once made every DLQ send fail).
"""

from __future__ import annotations

import re

from tayori.wire.sqs import MAX_ATTRIBUTES, REFUSED_CHAR, Attribute, Attributes, message_size

ERROR_ATTRIBUTE = "tayori-error"
ERROR_TYPE_ATTRIBUTE = "tayori-error-type"
REASON_ATTRIBUTES = (ERROR_ATTRIBUTE, ERROR_TYPE_ATTRIBUTE)
MAX_REASON_CHARS = 1000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def sanitize(text: str) -> str:
    """Text SQS accepts in an attribute: colour codes dropped, other refused characters
    shown as ``\\xNN`` escapes."""
    text = _ANSI.sub("", text)
    return REFUSED_CHAR.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def describe(exc: BaseException) -> str:
    """One line naming the error; never a traceback, never an exception of its own."""
    try:
        text = " ".join(str(exc).split())
    except Exception:  # a broken __str__ must not lose the message
        text = f"<{error_type(exc)}: str() failed>"
    return sanitize(text or error_type(exc))[:500]


def error_type(exc: BaseException) -> str:
    return sanitize(type(exc).__name__)[:200]


def with_reason(
    body: str, attributes: Attributes, reason: str, error_type: str, limit: int
) -> dict[str, Attribute]:
    """The attributes to dead-letter with: the message's own plus the reason, within
    ``limit`` bytes (the reason is shortened, never the body)."""
    out = {k: v for k, v in attributes.items() if k not in REASON_ATTRIBUTES}
    room = MAX_ATTRIBUTES - len(out)
    if room <= 0:  # keep the reason: it matters more than the last user attribute
        out = dict(list(out.items())[: MAX_ATTRIBUTES - 2])
        room = 2
    out[ERROR_ATTRIBUTE] = Attribute.string(sanitize(reason)[:MAX_REASON_CHARS] or "error")
    if room >= 2:
        out[ERROR_TYPE_ATTRIBUTE] = Attribute.string(sanitize(error_type)[:200] or "Error")
    while message_size(body, out) > limit and len(out[ERROR_ATTRIBUTE].value) > 20:
        out[ERROR_ATTRIBUTE] = Attribute.string(str(out[ERROR_ATTRIBUTE].value)[:20])
    return out


def reason_of(attributes: Attributes) -> tuple[str | None, str | None]:
    """``(reason, error type)`` of a dead letter, as the handler wrote them."""
    reason = attributes.get(ERROR_ATTRIBUTE)
    kind = attributes.get(ERROR_TYPE_ATTRIBUTE)
    return (
        None if reason is None else str(reason.value),
        None if kind is None else str(kind.value),
    )
