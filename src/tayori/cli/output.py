"""What every command prints: one-line errors, JSON or tables, and text made safe for a terminal.

Anything shown to a person passes through ``safe``: data from a queue (a dead letter's
reason, a recipient address) is written by whoever can enqueue, and must not be able to
move the cursor, retitle the terminal or hide text (ESC, C1 controls, bidi overrides).
``--json`` output is escaped by the JSON encoder already.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer

from tayori.errors import (
    ConfigError,
    InvalidParameterValue,
    QueueDoesNotExist,
    QueueNameInvalid,
    TayoriError,
)

state = {"debug": False}

# C0 (except none: even \n and \t would break a table row), DEL, C1, bidi and
# zero-width format characters
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def safe(value: Any) -> str:
    """``value`` as text with every control character shown as an escape (``\\x1b``)."""
    text = "" if value is None else str(value)
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"tayori: {safe(message)}", err=True)
    raise typer.Exit(code)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """TayoriError -> one line on stderr and exit 2 (bad input) or 1 (the job failed)."""
    try:
        yield
    except typer.Exit:
        raise
    except (ConfigError, QueueDoesNotExist, QueueNameInvalid, InvalidParameterValue) as exc:
        if state["debug"]:
            raise
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 2)
    except TayoriError as exc:
        if state["debug"]:
            raise
        fail(f"{type(exc).__name__}: {exc}", 1)
    except KeyboardInterrupt:
        fail("interrupted", 130)


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True))
    else:
        render()


def make_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, show_header: bool = True
) -> Any:
    """A rich table whose every cell is plain, escaped text (no markup, no controls)."""
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(safe(title)), show_header=show_header)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*(Text(safe(cell)) for cell in row))
    return t


def table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, show_header: bool = True
) -> None:
    """Print ``make_table(...)`` on stdout."""
    from rich.console import Console

    Console(highlight=False).print(make_table(title, columns, rows, show_header=show_header))


def echo(text: str, err: bool = False) -> None:
    """A human-readable line, escaped."""
    typer.echo(safe(text), err=err)


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
