"""A task's ``time_limit``: stop waiting for it, and interrupt it where Python can.

Celery's hard limit kills the worker process; a Lambda (or ``tayori worker``) thread
cannot be killed. The task runs on its own thread: when the limit passes, the record
fails with ``TimeLimitExceeded`` at once, and the same exception is raised inside the
task's thread (at its next Python bytecode: a call blocked in C, such as a socket read
without a timeout, notices only when it returns). The function timeout of the Lambda /
local runtime stays the outer bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tayori.errors import TimeLimitExceeded


def call_with_time_limit(fn: Callable[[], Any], seconds: float, name: str) -> Any:
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=run, name=f"tayori-task-{name}", daemon=True)
    thread.start()
    if not done.wait(seconds):
        _interrupt(thread)
        raise TimeLimitExceeded(f"task {name!r} exceeded its time_limit of {seconds:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("result")


def _interrupt(thread: threading.Thread) -> None:
    if thread.ident is None:
        return
    import ctypes  # only when a limit passes: a cold start does not load it

    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(TimeLimitExceeded)
    )
