"""Structured JSON logs: one Powertools Logger named ``tayori`` behind every ``tayori.*`` logger.

Modules log through ``logging.getLogger("tayori.<area>")``; the records propagate to the
``tayori`` logger, which Powertools formats as one JSON object per line. It writes to
stderr so that ``--json`` output on stdout stays machine-readable. Logs name message ids,
tasks and reasons, never message bodies or credentials.
"""

from __future__ import annotations

import sys
import threading

from aws_lambda_powertools import Logger

_lock = threading.Lock()
_logger: list[Logger] = []  # configured once per process (logging itself is process-global)


def configure(level: str = "WARNING") -> Logger:
    """Set up (once) or re-level the ``tayori`` JSON logger."""
    with _lock:
        if not _logger:
            _logger.append(Logger(service="tayori", level=level.upper(), stream=sys.stderr))
        else:
            _logger[0].setLevel(level.upper())
        return _logger[0]
