"""Django configured once for tests/contrib/django, then per test: tayori's queue in a
fresh directory and the SMTP settings pointing at the aiosmtpd fixture."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings


def _people(addresses: list[str]) -> list[Any]:
    """ADMINS / MANAGERS: strings on Django 6, (name, address) pairs before."""
    if django.VERSION >= (6, 0):
        return addresses
    from email.utils import parseaddr

    return [parseaddr(a) for a in addresses]


sys.path.insert(0, str(Path(__file__).parent))  # tayori_testapp
SESSION_DIR = tempfile.mkdtemp(prefix="tayori-django-")

if not settings.configured:
    settings.configure(
        TAYORI={"URL": f"sqlite:///{SESSION_DIR}/tayori"},
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "tayori.contrib.django",
            "tayori_testapp",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        EMAIL_BACKEND="tayori.contrib.django.EmailBackend",
        ADMINS=_people(["admin@example.com", "Zoë Ops <ops@öäü.example>"]),
        MANAGERS=_people(["Manager <manager@example.com>"]),
        USE_TZ=True,
        USE_I18N=True,
    )
    django.setup()

from django.test.utils import override_settings  # noqa: E402

from tayori.contrib.django import conf  # noqa: E402
from tayori.runtime.local import RuntimeConfig  # noqa: E402


@pytest.fixture
def project(tmp_path: Path, smtp_server: Any) -> Iterator[Any]:
    """Settings for one test: TAYORI in ``tmp_path``, Django's EMAIL_* at the SMTP fixture."""
    with override_settings(
        TAYORI={"URL": f"sqlite:///{tmp_path}/tayori", "EMAIL_TRANSPORT": "smtp"},
        EMAIL_HOST=smtp_server.host,
        EMAIL_PORT=smtp_server.port,
    ):  # Django's setting_changed signal rebuilds tayori's App on entry and exit
        yield smtp_server


def _drain(timeout: float = 30.0) -> Any:
    config = RuntimeConfig(concurrency=2, poll_wait_seconds=0)
    return conf.get_app().runtime(config).run_until_idle(timeout=timeout, settle=0.1)


@pytest.fixture
def drain() -> Any:
    """Run the project's worker in this process until its queues are empty."""
    return _drain
