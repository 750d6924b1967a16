"""Entry points into a Django project's tayori App, for processes Django did not start.

``tayori.contrib.django.entry:app`` is the project's App and ``...entry:mailer`` its
Mailer (what ``manage.py tayori`` passes to the ``tayori`` CLI as ``--app``), and
``tayori.contrib.django.entry.lambda_handler`` is the AWS Lambda handler (with
``DJANGO_SETTINGS_MODULE`` in the function's environment).

Importing this module sets Django up first, so the worker processes that ``tayori
worker --processes N`` spawns (fresh interpreters that import ``--app``) and Lambda
get the same settings, apps and tasks as ``manage.py``.
"""

from __future__ import annotations

from typing import Any

import django
from django.apps import apps

if not apps.ready:
    django.setup()  # DJANGO_SETTINGS_MODULE is inherited from manage.py's process


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point: the project's ``app.lambda_handler``."""
    from tayori.contrib.django.conf import get_app

    return get_app().lambda_handler(event, context)


def __getattr__(name: str) -> Any:
    from tayori.contrib.django.conf import get_app, get_mailer

    if name == "app":
        return get_app()
    if name == "mailer":
        return get_mailer()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
