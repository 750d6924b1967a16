"""The Celery side of the comparison: the same simulated send as tayori, on Redis.

Configured from the environment because the workers are separate processes:
``BENCH_REDIS_URL`` (set by the benchmark, always 127.0.0.1) and ``BENCH_LATENCY_S``.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery
from celery.signals import worker_ready

from benchmarks.common import simulated_send

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
LATENCY_S = float(os.environ.get("BENCH_LATENCY_S", "0.05"))

app = Celery("bench", broker=URL)
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_redis: redis.Redis | None = None


def _client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(URL)
    return _redis


@app.task(name="bench.send_one")
def send_one(payload: dict) -> None:
    simulated_send(payload, LATENCY_S)
    _client().rpush("bench:done", time.time())


@app.task(name="bench.noop")
def noop(payload: dict) -> None:
    _client().incr("bench:noop")


@worker_ready.connect
def _ready(**_: object) -> None:
    _client().set("bench:ready", time.time())
