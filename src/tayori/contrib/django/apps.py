"""``INSTALLED_APPS += ["tayori.contrib.django"]``: finds every installed app's tasks."""

from __future__ import annotations

from django.apps import AppConfig


class TayoriConfig(AppConfig):
    name = "tayori.contrib.django"
    label = "tayori"
    verbose_name = "tayori"

    def ready(self) -> None:
        """Import each installed app's ``tasks`` module, as Celery's autodiscovery does, so
        a worker started with ``manage.py tayori worker`` knows every task by name."""
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("tasks")
        from django.test.signals import setting_changed

        setting_changed.connect(_forget_on_change, dispatch_uid="tayori-settings")


def _forget_on_change(setting: str, **_kwargs: object) -> None:
    """``override_settings(TAYORI=...)`` in a test: build the App and Mailer anew, now,
    so the tasks the ``tasks`` modules hold send through the new App at once."""
    if setting == "TAYORI":
        from tayori.contrib.django.conf import reset
        from tayori.errors import TayoriError

        try:
            reset()
        except (TayoriError, OSError, ImportError):
            pass  # a bad TAYORI: the first real use raises it again
