"""tayori: heavy async work (bulk email first) on the Lambda x SQS model.

Public API only; everything else is imported from its module.
"""

from tayori.app import App, Task
from tayori.backends.base import Attribute, Message, QueueSpec, QueueStats, RedrivePolicy
from tayori.envelope import Envelope
from tayori.errors import (
    BadMessage,
    ConfigError,
    PermanentError,
    QueueError,
    RetryLater,
    TayoriError,
)
from tayori.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "App",
    "Attribute",
    "BadMessage",
    "ConfigError",
    "Envelope",
    "Message",
    "PermanentError",
    "QueueError",
    "QueueSpec",
    "QueueStats",
    "RedrivePolicy",
    "RetryLater",
    "Settings",
    "Task",
    "TayoriError",
    "__version__",
]
