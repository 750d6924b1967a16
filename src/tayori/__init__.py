"""tayori: heavy async work (bulk email first) on the Lambda x SQS model.

Public API only; everything else is imported from its module. Each name is imported on
first use (PEP 562), so ``import tayori`` costs a deployed function's cold start only
what it uses; ``from tayori import App`` works as always.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_HOMES = {
    "App": "tayori.app",
    "Task": "tayori.app",
    "QueueMessage": "tayori.backends.base",
    "QueueSpec": "tayori.backends.base",
    "QueueStats": "tayori.backends.base",
    "RedrivePolicy": "tayori.backends.base",
    "BadMessage": "tayori.errors",
    "ConfigError": "tayori.errors",
    "PermanentError": "tayori.errors",
    "QueueError": "tayori.errors",
    "RetryLater": "tayori.errors",
    "TayoriError": "tayori.errors",
    "Settings": "tayori.settings",
    "shared_task": "tayori.shared",
    "Attribute": "tayori.wire",
    "Envelope": "tayori.wire",
}

__all__ = [
    "App",
    "Attribute",
    "BadMessage",
    "ConfigError",
    "Envelope",
    "PermanentError",
    "QueueError",
    "QueueMessage",
    "QueueSpec",
    "QueueStats",
    "RedrivePolicy",
    "RetryLater",
    "Settings",
    "Task",
    "TayoriError",
    "__version__",
    "shared_task",
]

if TYPE_CHECKING:
    from tayori.app import App, Task
    from tayori.backends.base import QueueMessage, QueueSpec, QueueStats, RedrivePolicy
    from tayori.errors import (
        BadMessage,
        ConfigError,
        PermanentError,
        QueueError,
        RetryLater,
        TayoriError,
    )
    from tayori.settings import Settings
    from tayori.shared import shared_task
    from tayori.wire import Attribute, Envelope


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        if name.startswith("_"):
            raise AttributeError(f"module 'tayori' has no attribute {name!r}")
        try:  # a submodule, as ``import tayori`` used to load most of them
            return _load(f"tayori.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tayori.{name}":
                raise
            raise AttributeError(f"module 'tayori' has no attribute {name!r}") from None
    value = getattr(_load(home), name)
    globals()[name] = value
    return value


def _load(module: str) -> Any:
    # the import statement's own path (importlib.import_module's is not in -X importtime)
    __import__(module)
    return sys.modules[module]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
