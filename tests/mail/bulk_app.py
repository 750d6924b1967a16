# not collected: the app module the 10,000-recipient test runs in worker subprocesses
"""A mail app on the embedded backend sending through the test's real SMTP server."""

from __future__ import annotations

import json
import os
import random
import sys
import threading
from typing import Any

import tayori
from tayori.mail import Mailer, SMTPTransport, Templates
from tayori.runtime.local import RuntimeConfig

TEMPLATES = {
    "notice.subject": "{{ group }}: {{ title }}",
    "notice.txt": "Hello {{ name }},\n\n{{ title }}\n",
}

settings = tayori.Settings(url=f"sqlite:///{os.environ['BULK_DIR']}", visibility_timeout=12)
app = tayori.App("bulk", settings=settings)
mailer = Mailer(
    app,
    transport=SMTPTransport(host="127.0.0.1", port=int(os.environ["BULK_SMTP_PORT"])),
    templates=Templates(sources=TEMPLATES),
    sender="Group News <news@example.com>",
)


def duplicating(rate: float, seed: int) -> Any:
    """Re-enqueue a copy of some records before handling them (at-least-once delivery)."""
    rnd, lock = random.Random(seed), threading.Lock()

    def handler(event: dict, context: Any) -> Any:
        for record in event["Records"]:
            with lock:
                dup = rnd.random() < rate
            if dup and int(record["attributes"]["ApproximateReceiveCount"]) == 1:
                app.queue(record["eventSourceARN"].rsplit(":", 1)[-1]).send(record["body"])
        return app.lambda_handler(event, context)

    return handler


if __name__ == "__main__":
    rate, seed = float(sys.argv[1]), int(sys.argv[2])
    config = RuntimeConfig(concurrency=16, batch_size=10, function_timeout=10.0)
    stats = app.runtime(config, handler=duplicating(rate, seed)).run_until_idle(timeout=300)
    mailer.transport.close()
    print(json.dumps(stats.as_dict()))
