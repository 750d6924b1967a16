"""Structured JSON logs: one Powertools Logger named ``tayori`` behind every ``tayori.*`` logger.

Modules log through ``logging.getLogger("tayori.<area>")``; the records propagate to the
``tayori`` logger, which Powertools formats as one JSON object per line. It writes to
stderr so that ``--json`` output on stdout stays machine-readable. Logs name message ids,
tasks and reasons, never message bodies or credentials.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


class _Forward:
    """A stream that hands each whole line to ``write`` (one call per log line)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write, self._buffer = write, ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._write(line)
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._write(self._buffer)
            self._buffer = ""


@contextmanager
def lines_to(write: Callable[[str], None]) -> Iterator[None]:
    """Send the JSON log lines to ``write`` while inside (a progress bar prints them
    above itself, whole, instead of the raw stream cutting into its redraws)."""
    handlers = [h for h in configure().handlers if isinstance(h, logging.StreamHandler)]
    forward = _Forward(write)
    old = [h.setStream(forward) for h in handlers]  # type: ignore[arg-type]
    try:
        yield
    finally:
        forward.flush()
        for handler, stream in zip(handlers, old, strict=True):
            handler.setStream(stream)
