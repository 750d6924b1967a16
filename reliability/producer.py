"""Producer processes for the harness (so they can be killed for real).

``python -m reliability.producer CONFIG send_many N``  -- N work payloads ``r<i>``
``python -m reliability.producer CONFIG broadcast N BID`` -- one mail broadcast
``python -m reliability.producer CONFIG big BYTES`` -- one claim-check payload
``python -m reliability.producer CONFIG loop SECONDS NAME`` -- send until time is up
(or SIGTERM), then write ``<dir>/producers/NAME.json``: how many it enqueued and every
error that surfaced to it.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

from reliability.harness_app import HarnessConfig, build

LOOP_BATCH = 50


def main(argv: list[str]) -> int:
    config = HarnessConfig.load(argv[0])
    h = build(config)
    mode = argv[1]
    if mode == "send_many":
        h.work.send_many(({"id": f"r{i}"} for i in range(int(argv[2]))), chunk=50)
    elif mode == "broadcast":
        h.mailer.broadcast(
            "notice",
            ({"email": f"user{i:06d}@example.com", "name": f"U{i}"} for i in range(int(argv[2]))),
            {"body": "hello"},
            broadcast_id=argv[3],
        )
    elif mode == "big":  # one payload over the claim-check threshold; report what surfaced
        try:
            h.work.send({"id": "big", "pad": "x" * int(argv[2])})
            print(json.dumps({"ok": True}))
        except Exception as exc:
            print(json.dumps({"ok": False, "error": type(exc).__name__, "message": str(exc)}))
    elif mode == "loop":
        return _loop(h, float(argv[2]), argv[3], Path(config.directory))
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    return 0


def _loop(h: object, seconds: float, name: str, directory: Path) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sent, errors, failed, n = 0, [], [], 0
    started = time.monotonic()
    while not stop.is_set() and time.monotonic() - started < seconds:
        ids = [f"{name}-{n + i}" for i in range(LOOP_BATCH)]
        n += LOOP_BATCH
        try:
            h.work.send_many([{"id": i} for i in ids])  # type: ignore[attr-defined]
            sent += len(ids)
        except Exception as exc:  # what a user's code would see
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
            failed.append(n - LOOP_BATCH)
    out = directory / "producers"
    out.mkdir(exist_ok=True)
    result = {
        "sent": sent,
        "attempted": n,
        "errors": errors,
        "failed_batches": failed,
        "seconds": time.monotonic() - started,
    }
    (out / f"{name}.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
