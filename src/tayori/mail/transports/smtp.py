"""SMTP transport (smtplib): TLS options, one reused connection per execution thread.

A Lambda execution (or a local runtime thread) handles its batch on one thread, so a
thread-local connection is reused across the batch's messages and re-opened when the
server has dropped it. 4xx replies -> ``RetryLater``; 5xx -> ``PermanentError``.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
import uuid
from dataclasses import dataclass

from tayori.errors import ConfigError, PermanentError, RetryLater
from tayori.mail.message import Message

RETRY_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class SMTPConfig:
    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: str | None = None
    tls: str = "none"  # "none" | "starttls" | "ssl"
    timeout: float = 30.0
    local_hostname: str | None = None
    verify: bool = True


class SMTPTransport:
    def __init__(self, config: SMTPConfig | None = None, **kwargs: object) -> None:
        self.config = config or SMTPConfig(**kwargs)  # type: ignore[arg-type]
        if self.config.tls not in ("none", "starttls", "ssl"):
            raise ConfigError(f"tls must be none, starttls or ssl, not {self.config.tls!r}")
        self._local = threading.local()
        self._all: list[smtplib.SMTP] = []
        self._lock = threading.Lock()
        self.connections_opened = 0

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if not self.config.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _open(self) -> smtplib.SMTP:
        c = self.config
        if c.tls == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                c.host,
                c.port,
                local_hostname=c.local_hostname,
                timeout=c.timeout,
                context=self._context(),
            )
        else:
            conn = smtplib.SMTP(c.host, c.port, local_hostname=c.local_hostname, timeout=c.timeout)
            if c.tls == "starttls":
                conn.starttls(context=self._context())
        if c.username:
            conn.login(c.username, c.password or "")
        with self._lock:
            self._all.append(conn)
            self.connections_opened += 1
        return conn

    def _connection(self) -> smtplib.SMTP:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except (OSError, smtplib.SMTPException):
                pass

    def send(self, message: Message) -> str:
        return self.send_raw(message.envelope_sender, list(message.recipients), message.as_bytes())

    def send_raw(self, sender: str, recipients: list[str], data: bytes) -> str:
        """``MAIL FROM`` / ``RCPT TO`` exactly as given, then ``data`` (CRLF line ends)."""
        for attempt in (1, 2):  # a reused connection may have been closed by the server
            try:
                conn = self._connection()
                refused = conn.sendmail(sender, list(recipients), data)
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if attempt == 2:
                    raise RetryLater(RETRY_SECONDS, f"SMTP server disconnected: {exc}") from None
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                self._reset()
                raise _from_codes({r: c for r, (c, _m) in exc.recipients.items()}) from None
            except smtplib.SMTPResponseException as exc:
                self._reset()
                raise _classify(exc.smtp_code, exc.smtp_error) from None
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise RetryLater(RETRY_SECONDS, f"SMTP connection failed: {exc}") from None
            if refused:  # some recipients refused, the rest accepted: report, do not resend
                failed = ", ".join(f"{r} ({c})" for r, (c, _m) in refused.items())
                raise PermanentError(f"SMTP server refused some recipients: {failed}")
            return f"smtp-{uuid.uuid4()}"
        raise AssertionError("unreachable")

    def _reset(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.rset()
            except (OSError, smtplib.SMTPException):
                self._drop()

    def close(self) -> None:
        """Close every connection this transport opened (all threads)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                try:
                    conn.close()
                except OSError:
                    pass
        self._local = threading.local()


def _classify(code: int, text: bytes | str) -> Exception:
    msg = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if 400 <= code < 500:
        return RetryLater(RETRY_SECONDS, f"SMTP {code} {msg}")
    return PermanentError(f"SMTP {code} {msg}")


def _from_codes(codes: dict[str, int]) -> Exception:
    detail = ", ".join(f"{r} ({c})" for r, c in codes.items())
    if any(400 <= c < 500 for c in codes.values()):
        return RetryLater(RETRY_SECONDS, f"SMTP recipients temporarily refused: {detail}")
    return PermanentError(f"SMTP recipients refused: {detail}")
