"""tayori in a Django project: an email backend, an app for tasks, ``manage.py tayori``.

settings.py::

    INSTALLED_APPS = [..., "tayori.contrib.django"]
    EMAIL_BACKEND = "tayori.contrib.django.EmailBackend"
    TAYORI = {"URL": "sqlite:///var/tayori"}

tasks.py of any installed app::

    from tayori.contrib.django import get_app

    app = get_app()

    @app.task(queue="default")
    def welcome(payload): ...

See docs/django.md.
"""

from __future__ import annotations

from typing import Any

from tayori.contrib.django.conf import get_app, get_mailer, reset, tayori_settings
from tayori.contrib.django.tasks import delay_on_commit, send_on_commit

__all__ = [
    "EmailBackend",
    "delay_on_commit",
    "get_app",
    "get_mailer",
    "reset",
    "send_on_commit",
    "tayori_settings",
]


def __getattr__(name: str) -> Any:
    if name == "EmailBackend":  # EMAIL_BACKEND = "tayori.contrib.django.EmailBackend"
        from tayori.contrib.django.backend import EmailBackend

        return EmailBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
