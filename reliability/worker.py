"""A worker process for the harness: ``python -m reliability.worker CONFIG [QUEUE...]``.

It is the real local runtime (``tayori worker`` runs the same ``LocalRuntime``) on the
harness app; SIGTERM stops it gracefully and it writes its run stats to
``<dir>/workers/<pid>.json``. SIGKILL, of course, writes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from reliability.harness_app import HarnessConfig, build
from tayori.runtime.workers import run_in_this_process


def main(argv: list[str]) -> int:
    config = HarnessConfig.load(argv[0])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    harness = build(config)
    runtime = config.runtime()
    if len(argv) > 1:
        runtime = replace(runtime, queues=tuple(argv[1:]))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stats = run_in_this_process(harness.app, runtime, stop)
    stats["handler"] = harness.app.handler.counters.snapshot()
    out = Path(config.directory) / "workers"
    out.mkdir(exist_ok=True)
    (out / f"{os.getpid()}.json").write_text(json.dumps(stats))
    harness.transport.close()
    harness.app.backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
