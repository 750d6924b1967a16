"""``python -m tayori.contrib.celery setup proj.celery:app``: create the queues (each with
its DLQ), and on AWS the bucket and idempotency table, for an unchanged Celery app.
Run it before the Celery app first sends (kombu would create a queue without a DLQ)."""

from __future__ import annotations

import sys

from tayori.errors import TayoriError
from tayori.loader import load_object


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "setup":
        print(
            "usage: python -m tayori.contrib.celery setup package.module:celery_app",
            file=sys.stderr,
        )
        return 2
    try:
        from tayori.contrib.celery import CeleryWorker

        names = CeleryWorker(load_object(argv[1])).setup()
    except TayoriError as exc:
        print(f"tayori: {exc}", file=sys.stderr)
        return 2
    print(f"ready: {', '.join(names)} (each with its DLQ)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
