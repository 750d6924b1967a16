"""StopFlag: what a signal handler sets. A handler that calls ``threading.Event.set``
can deadlock when the signal lands while the main thread holds the Event's lock: the
cause of the rare ``tayori worker -p 2`` that never stopped after Ctrl-C."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

from tayori.runtime.stopflag import StopFlag

# The main thread waits over and over while 20,000 handlers set the flag it waits on.
# With ``threading.Event`` in StopFlag's place this hangs (or overflows the stack).
STORM = textwrap.dedent(
    """
    import os, signal, threading
    from tayori.runtime.stopflag import StopFlag

    flags = [StopFlag()]
    signal.signal(signal.SIGUSR1, lambda *_: flags[-1].set())
    sent = threading.Event()

    def storm():
        for _ in range(20_000):
            os.kill(os.getpid(), signal.SIGUSR1)
        sent.set()

    threading.Thread(target=storm, daemon=True).start()
    seen = 0
    while not sent.is_set():
        if flags[-1].wait(0):
            seen += 1
            flags.append(StopFlag())
    print(seen)
    """
)


def test_wait_returns_false_after_the_timeout_and_true_once_set() -> None:
    flag = StopFlag()
    started = time.monotonic()
    assert flag.wait(0.1) is False
    assert 0.09 <= time.monotonic() - started < 1
    threading.Timer(0.1, flag.set).start()
    assert flag.wait(5) is True
    assert flag.is_set()


def test_a_storm_of_signals_while_the_main_thread_waits_never_hangs() -> None:
    done = subprocess.run([sys.executable, "-c", STORM], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 0  # the handlers did run while it waited
