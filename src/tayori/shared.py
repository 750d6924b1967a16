"""``@shared_task`` for reusable apps, and ``autodiscover_tasks`` for their tasks modules.

A shared task is defined without an App (a Django reusable app cannot import the
project's); an App binds it on ``app.bind_shared_tasks()`` or, usually, when
``app.autodiscover_tasks()`` imports the project's ``tasks`` modules. Until then the
proxy can run the function directly but not ``delay()`` it. As in Celery, a shared
task's default name is ``module.function``.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from tayori.errors import ConfigError

_pending: list[SharedTask] = []
_discovering: list[weakref.ref[Any]] = []  # apps whose autodiscovery may bind a task
_lock = threading.Lock()


class SharedTask:
    """Stands for the task of the last App that bound it."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.fn = fn
        self.options = options
        self.name: str = options.get("name") or f"{fn.__module__}.{fn.__name__}"
        self._bound: Any = None
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<shared task {self.name}{'' if self._bound is not None else ' (unbound)'}>"

    def bind(self, app: Any) -> Any:
        task = app.registry.tasks.get(self.name)
        if task is None:
            task = app.task(self.fn, **{**self.options, "name": self.name})
        self._bound = task
        return task

    @property
    def task(self) -> Any:
        if self._bound is None:
            for ref in list(_discovering):  # an app that autodiscovers binds it on first use
                app = ref()
                if app is not None:
                    app.registry.load()
        if self._bound is None:
            raise ConfigError(
                f"shared task {self.name!r} is not bound to an App yet: call "
                "app.autodiscover_tasks() (or app.bind_shared_tasks()) where the App is made"
            )
        return self._bound

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._bound is not None:
            return self._bound(*args, **kwargs)
        if self.options.get("bind"):
            raise ConfigError(f"shared task {self.name!r} (bind=True) needs an App to run")
        return self.fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.task, name)


def shared_task(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``@shared_task`` / ``@shared_task(bind=True, ...)``: the options of ``App.task``."""

    def make(f: Callable[..., Any]) -> SharedTask:
        task = SharedTask(f, options)
        with _lock:
            _pending.append(task)
        return task

    return make(fn) if fn is not None else make


def watch(app: Any) -> None:
    """``app`` autodiscovers: an unbound shared task asks it to load before refusing."""
    with _lock:
        _discovering.append(weakref.ref(app))


def bind_shared(app: Any) -> None:
    with _lock:
        tasks = list(_pending)
    for task in tasks:
        task.bind(app)


def discover(
    app: Any,
    packages: Iterable[str] | Callable[[], Iterable[str]] | None,
    related_name: str = "tasks",
) -> None:
    """Import ``<package>.<related_name>`` where it exists, then bind the shared tasks."""
    if callable(packages):
        packages = packages()
    names = list(packages) if packages is not None else _django_apps()
    for package in names:
        try:
            importlib.import_module(package)
        except ImportError as exc:
            raise ConfigError(f"autodiscover_tasks: cannot import {package!r}: {exc}") from None
        module = f"{package}.{related_name}"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    bind_shared(app)


def _django_apps() -> list[str]:
    try:
        from django.apps import apps
        from django.conf import settings
    except ImportError:
        raise ConfigError("autodiscover_tasks() without packages needs Django") from None
    if apps.ready:
        return [config.name for config in apps.get_app_configs()]
    if not settings.configured:
        raise ConfigError("autodiscover_tasks(): Django settings are not configured")
    return list(settings.INSTALLED_APPS)
