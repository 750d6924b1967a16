"""Mail transports: one protocol, four implementations (SES v2, SMTP, file, memory)."""

from tayori.mail.transports.base import Transport
from tayori.mail.transports.file import FileTransport
from tayori.mail.transports.memory import MemoryTransport
from tayori.mail.transports.ses import SESTransport
from tayori.mail.transports.smtp import SMTPConfig, SMTPTransport

__all__ = [
    "FileTransport",
    "MemoryTransport",
    "SESTransport",
    "SMTPConfig",
    "SMTPTransport",
    "Transport",
]
