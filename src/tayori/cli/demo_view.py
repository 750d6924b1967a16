"""The demo in a terminal: a progress bar with the JSON log lines printed whole above it.

Ctrl-C (or SIGTERM) interrupts once: further signals are ignored while the demo stops
its runtime and removes its temporary directory, so cleanup is not cut short.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tayori import logs


@contextmanager
def _interrupt_once() -> Iterator[None]:
    seen = {"n": 0}

    def on_signal(*_: Any) -> None:
        seen["n"] += 1
        if seen["n"] == 1:
            raise KeyboardInterrupt

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_with_progress(
    recipients: int,
    latency_ms: float,
    concurrency: int,
    *,
    chaos: bool,
    seed: int | None,
    quiet: bool,
    function_timeout: float = 5.0,
) -> Any:
    """Run the demo; unless ``quiet``, draw a progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.text import Text

    from tayori.demo import run_demo

    with _interrupt_once():
        if quiet:
            return run_demo(
                recipients,
                latency_ms,
                concurrency,
                chaos=chaos,
                seed=seed,
                function_timeout=function_timeout,
            )
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task("sending", total=recipients)
            # soft_wrap: the line is not broken at the width; Live clears the bar, prints
            # the line, redraws the bar
            with logs.lines_to(lambda line: bar.console.print(Text(line), soft_wrap=True)):
                return run_demo(
                    recipients,
                    latency_ms,
                    concurrency,
                    chaos=chaos,
                    seed=seed,
                    function_timeout=function_timeout,
                    on_progress=lambda sent, total: bar.update(task, completed=sent),
                )
