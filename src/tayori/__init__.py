"""tayori: heavy async work (bulk email first) on the Lambda x SQS model.

Public API only; everything else is imported from its module.
"""

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
from tayori.wire import Attribute, Envelope

__version__ = "0.1.0"

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
]
