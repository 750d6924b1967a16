"""The default Mailer of a Django project: where Django itself would have sent the mail.

``TAYORI["EMAIL_TRANSPORT"]`` picks the worker's transport:

- ``"smtp"`` (default): Django's own ``EMAIL_HOST``, ``EMAIL_PORT``, ``EMAIL_HOST_USER``,
  ``EMAIL_HOST_PASSWORD``, ``EMAIL_USE_TLS`` / ``EMAIL_USE_SSL`` and ``EMAIL_TIMEOUT``, so
  switching ``EMAIL_BACKEND`` to tayori's keeps the same server;
- ``"ses"``: Amazon SES v2 in the backend's region (and ``ENDPOINT_URL``);
- ``"file"``: ``.eml`` files in ``<tayori dir>/outbox`` (development);
- ``"memory"``: ``tayori.testing.MemoryTransport`` (the default in a ``TEST_MODE``);
- ``"module:attr"``: any object with ``send_raw(sender, recipients, data)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

from tayori.app import App
from tayori.errors import ConfigError
from tayori.mail.message import InvalidMessage, check_address

FALLBACK_SENDER = "webmaster@example.com"


def default_mailer(app: App, options: Mapping[str, Any]) -> Any:
    """A Mailer on ``app`` with the transport ``options`` names; broadcasts use the
    templates in ``EMAIL_TEMPLATES`` (a directory) and ``EMAIL_SENDER`` as From."""
    from tayori.mail.broadcast import Mailer
    from tayori.mail.templates import Templates

    directory = options.get("EMAIL_TEMPLATES")
    return Mailer(
        app,
        transport=build_transport(app, options.get("EMAIL_TRANSPORT") or _default_kind(options)),
        templates=Templates(directory) if directory else Templates(sources={}),
        sender=str(options.get("EMAIL_SENDER") or _broadcast_sender()),
        rate_limit=options.get("EMAIL_RATE_LIMIT"),
        queue=str(options.get("EMAIL_QUEUE") or "mail"),
    )


def build_transport(app: App, kind: Any) -> Any:
    """The worker-side transport ``kind`` names (see the module docstring)."""
    if not isinstance(kind, str):
        transport = kind
    elif kind == "smtp":
        transport = smtp_from_django()
    elif kind == "ses":
        from tayori.mail.transports.ses import SESTransport

        transport = SESTransport(region=app.settings.region, endpoint_url=app.settings.endpoint_url)
    elif kind == "file":
        from tayori.mail.transports.file import FileTransport

        transport = FileTransport(Path(app.settings.sqlite_path) / "outbox")
    elif kind == "memory":
        from tayori.testing import MemoryTransport

        transport = MemoryTransport()
    elif ":" in kind:
        from tayori.contrib.django.conf import _import

        transport = _import(kind, "EMAIL_TRANSPORT")
    else:
        raise ConfigError(
            f'TAYORI["EMAIL_TRANSPORT"]: smtp, ses, file, memory or module:attr, not {kind!r}'
        )
    if not hasattr(transport, "send_raw"):
        raise ConfigError(f"{type(transport).__name__} has no send_raw(); Django mail needs it")
    return transport


def _default_kind(options: Mapping[str, Any]) -> str:
    return "memory" if options.get("TEST_MODE") else "smtp"


def smtp_from_django() -> Any:
    """An SMTPTransport configured from Django's ``EMAIL_*`` settings."""
    from tayori.mail.transports.smtp import SMTPConfig, SMTPTransport

    s = django_settings
    login = bool(s.EMAIL_HOST_USER and s.EMAIL_HOST_PASSWORD)  # Django logs in only with both
    if s.EMAIL_USE_TLS and s.EMAIL_USE_SSL:
        raise ConfigError("EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive")
    config = SMTPConfig(
        host=s.EMAIL_HOST,
        port=int(s.EMAIL_PORT),
        username=s.EMAIL_HOST_USER if login else None,
        password=s.EMAIL_HOST_PASSWORD if login else None,
        tls="ssl" if s.EMAIL_USE_SSL else "starttls" if s.EMAIL_USE_TLS else "none",
        timeout=float(s.EMAIL_TIMEOUT) if s.EMAIL_TIMEOUT is not None else 30.0,
        local_hostname=_fqdn(),
    )
    return SMTPTransport(config)


def _fqdn() -> str:
    from django.core.mail.utils import DNS_NAME

    return str(DNS_NAME.get_fqdn())


def _broadcast_sender() -> str:
    """``DEFAULT_FROM_EMAIL`` when it is a full address (Django's ``webmaster@localhost``
    is not: broadcasts then need ``sender=``); only broadcasts use it."""
    try:
        check_address(str(django_settings.DEFAULT_FROM_EMAIL))
    except InvalidMessage:
        return FALLBACK_SENDER
    return str(django_settings.DEFAULT_FROM_EMAIL)
