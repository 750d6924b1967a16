# not collected: a helper script
"""One process of the rate-limit test: THREADS threads take tokens and send until END.

Run as a script: ``python rate_worker.py DIR RATE LIMITER_BURST PROVIDER_BURST START END``.
Prints a JSON line with this process's sends and throttles.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from tayori.errors import RetryLater
from tayori.mail import Message, SqliteRateLimiter
from tayori.testing import SimulatedProvider

THREADS = 8


def main() -> None:
    directory, rate, lburst, pburst, start, end = sys.argv[1:7]
    limiter = SqliteRateLimiter(directory, float(rate), float(lburst), name="ses")
    provider = SimulatedProvider(
        rate=float(rate), burst=float(pburst), directory=directory, record_subjects=False
    )
    message = Message(sender="news@example.com", to=("a@example.org",), subject="x", text="y")
    counts = {"sent": 0, "throttled": 0}
    lock = threading.Lock()

    def work() -> None:
        while time.time() < float(end):
            limiter.acquire()
            try:
                provider.send(message)
                key = "sent"
            except RetryLater:
                key = "throttled"
            with lock:
                counts[key] += 1

    time.sleep(max(0.0, float(start) - time.time()))
    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
