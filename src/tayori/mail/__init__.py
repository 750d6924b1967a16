"""Bulk email on tayori: broadcast fan-out, templates, transports, rate limits,
suppression and one-click unsubscribe."""

from tayori.backends.aws.mail import DynamoDBMailStore
from tayori.backends.sqlite.mail import SqliteMailStore
from tayori.mail.broadcast import Mailer
from tayori.mail.message import HeaderInjection, InvalidAddress, InvalidMessage, Message
from tayori.mail.ratelimit import (
    DynamoDBRateLimiter,
    MemoryRateLimiter,
    RateLimitedTransport,
    SqliteRateLimiter,
)
from tayori.mail.recipients import BadRecipients, read_file
from tayori.mail.store import BroadcastStatus
from tayori.mail.templates import TemplateError, Templates
from tayori.mail.transports import (
    FileTransport,
    SESTransport,
    SMTPConfig,
    SMTPTransport,
    Transport,
)
from tayori.mail.unsubscribe import InvalidToken, UnsubscribeApp, Unsubscriber


def __getattr__(name: str) -> object:
    """Old home of the test doubles, now in ``tayori.testing``."""
    if name in ("MemoryTransport", "SimulatedProvider"):
        import tayori.testing

        return getattr(tayori.testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BadRecipients",
    "BroadcastStatus",
    "DynamoDBMailStore",
    "DynamoDBRateLimiter",
    "FileTransport",
    "HeaderInjection",
    "InvalidAddress",
    "InvalidMessage",
    "InvalidToken",
    "Mailer",
    "MemoryRateLimiter",
    "Message",
    "RateLimitedTransport",
    "SESTransport",
    "SMTPConfig",
    "SMTPTransport",
    "SqliteMailStore",
    "SqliteRateLimiter",
    "TemplateError",
    "Templates",
    "Transport",
    "UnsubscribeApp",
    "Unsubscriber",
    "read_file",
]
