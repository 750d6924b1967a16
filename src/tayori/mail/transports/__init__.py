"""Mail transports: one protocol, three implementations (SES v2, SMTP, file).

The in-memory transport for tests is ``tayori.testing.MemoryTransport``."""

from tayori.mail.transports.base import RawTransport, Transport
from tayori.mail.transports.file import FileTransport
from tayori.mail.transports.ses import SESTransport
from tayori.mail.transports.smtp import SMTPConfig, SMTPTransport

__all__ = [
    "FileTransport",
    "RawTransport",
    "SESTransport",
    "SMTPConfig",
    "SMTPTransport",
    "Transport",
]
