"""tayori's configuration in a Django project: one ``TAYORI = {...}`` dict in settings.py.

::

    TAYORI = {
        "URL": "sqlite:///var/tayori",      # any tayori.Settings field, in any case
        "APP_NAME": "shop",                 # the project's tayori App (default "django")
        "MAILER": "shop.mail:mailer",       # optional: your own tayori.mail.Mailer
        "EMAIL_TRANSPORT": "smtp",          # default Mailer: smtp | ses | file | module:attr
        "EMAIL_RATE_LIMIT": 14,             # default Mailer: provider sends per second
        "EMAIL_TEMPLATES": BASE_DIR / "mail",  # default Mailer: broadcast templates
        "EMAIL_SENDER": "news@example.com", # default Mailer: broadcasts' From
        "TEST_MODE": "eager",               # test settings: "memory" or "eager" (tayori.testing)
    }

Nothing here reads the environment: the ``Settings`` are built from this dict alone
(``TAYORI_*`` variables are ignored in a Django project), so a project's behaviour is
in its settings file. The App and the Mailer are built once, on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings as django_settings

from tayori.app import App
from tayori.errors import ConfigError
from tayori.settings import Settings

# keys of TAYORI that are not tayori.Settings fields
OWN_KEYS = {
    "APP",
    "APP_NAME",
    "MAILER",
    "EMAIL_TRANSPORT",
    "EMAIL_RATE_LIMIT",
    "EMAIL_QUEUE",
    "EMAIL_TEMPLATES",
    "EMAIL_SENDER",
    "TEST_MODE",
}
TEST_MODES = (None, "", "memory", "eager")

_lock = threading.RLock()
_state: dict[str, Any] = {}


class DjangoSettings(Settings):
    """``tayori.Settings`` from the ``TAYORI`` dict only: the environment is not a source."""

    from_environment = False


def options() -> dict[str, Any]:
    """The ``TAYORI`` setting with upper-case keys (``{}`` when the project has none)."""
    raw = getattr(django_settings, "TAYORI", None) or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"settings.TAYORI must be a dict, got {type(raw).__name__}")
    return {str(k).upper(): v for k, v in raw.items()}


def tayori_settings() -> Settings:
    """``tayori.Settings`` for this project, from ``settings.TAYORI``.

    In a ``TEST_MODE`` without a ``URL``, the mail store and rate limiter (which stay in
    SQLite) get a fresh temporary directory, so tests leave nothing in the project.
    """
    opts = options()
    fields = {k.lower(): v for k, v in opts.items() if k not in OWN_KEYS and not k.startswith("_")}
    if opts.get("TEST_MODE") and "url" not in fields:
        import tempfile

        fields["url"] = f"sqlite:///{tempfile.mkdtemp(prefix='tayori-test-')}"
    unknown = sorted(set(fields) - set(Settings.model_fields))
    if unknown:
        known = ", ".join(sorted(k.upper() for k in (*Settings.model_fields, *OWN_KEYS)))
        raise ConfigError(f"settings.TAYORI has unknown keys {unknown}; known: {known}")
    try:
        return DjangoSettings(**fields)
    except ConfigError as exc:  # tayori's own one-line message (it names TAYORI_<NAME>)
        message = str(exc).replace("TAYORI_", "TAYORI['", 1).replace("=", "']=", 1)
        raise ConfigError(f"settings.TAYORI: {message}") from None


def get_app() -> App:
    """The project's tayori App (``TAYORI["APP"]`` if given, else one built from the settings).

    The project's Mailer is built with it, so its mail tasks are registered wherever the
    App is loaded (a web process, ``manage.py tayori worker``, a Lambda function).
    """
    with _lock:
        app = _state.get("app")
        if app is None:
            ref = options().get("APP")
            if ref:
                app = _import(ref, "APP")
                if not isinstance(app, App):
                    raise ConfigError(f'TAYORI["APP"] = {ref!r} is not a tayori.App')
            else:
                app = _build_app(options())
            previous = _state.get("previous")
            if previous is not None and previous is not app:
                _adopt_tasks(previous, app)
            _state["app"] = app
            get_mailer()
        return app


def get_mailer() -> Any:
    """The project's Mailer: ``TAYORI["MAILER"]``, or a default one on ``get_app()``."""
    with _lock:
        mailer = _state.get("mailer")
        if mailer is None:
            from tayori.mail.broadcast import Mailer, load_mailer

            app = get_app()  # builds the mailer too, on first use
            if "mailer" in _state:
                return _state["mailer"]
            spec = options().get("MAILER")
            if spec:
                mailer = load_mailer(spec) if isinstance(spec, str | Mailer) else spec
            else:
                from tayori.contrib.django.transport import default_mailer

                mailer = default_mailer(app, options())
            _state["mailer"] = mailer
        return mailer


def _build_app(opts: dict[str, Any]) -> App:
    """The App from the settings; in a test mode on ``tayori.testing.MemoryBackend``."""
    name = str(opts.get("APP_NAME") or "django")
    mode = opts.get("TEST_MODE")
    if mode not in TEST_MODES:
        raise ConfigError(f'TAYORI["TEST_MODE"] must be "memory" or "eager", not {mode!r}')
    if not mode:
        return App(name, settings=tayori_settings())
    from tayori.testing import MemoryBackend, set_eager

    app = App(name, settings=tayori_settings(), backend=MemoryBackend())
    if mode == "eager":
        set_eager(app)
    return app


def _adopt_tasks(old: App, new: App) -> None:
    """Move the project's tasks (not the old Mailer's) to the new App.

    The ``tasks`` modules were imported once, when Django set up, and registered their
    tasks on the App of that moment; after ``override_settings(TAYORI=...)`` they must
    send through the new one (its backend, e.g. the test mode's memory queue).
    """
    from tayori.mail.broadcast import Mailer

    for name, task in old.tasks.items():
        if isinstance(getattr(task.fn, "__self__", None), Mailer) or name in new.tasks:
            continue
        task.app = new
        new.registry.add(task)


def reset() -> None:
    """Build the App and Mailer again from the settings, taking the project's tasks along.

    ``override_settings(TAYORI=...)`` does this through Django's ``setting_changed``
    signal; call it in a test's ``setUp`` for fresh tayori state (in a ``TEST_MODE``: a
    new memory queue, mail transport and mail store) in every test.
    """
    with _lock:
        previous = _state.get("app") or _state.get("previous")
        _state.clear()
        if previous is not None:
            _state["previous"] = previous
        get_app()


def _import(ref: Any, key: str) -> Any:
    if not isinstance(ref, str):
        return ref
    from django.utils.module_loading import import_string

    try:
        return import_string(ref.replace(":", "."))
    except ImportError as exc:
        raise ConfigError(f'TAYORI["{key}"] = {ref!r}: {exc}') from None
