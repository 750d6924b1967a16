"""The Celery task module of the migration benchmark, as a Celery user writes it.

Celery's workers import it as is; option A replaces only its import line (the App);
option B runs it unchanged on tayori's handler. A finished send is recorded in this
process (``common.SENT``) and, under a Celery worker, in Redis (``bench:done``).
"""

import os
import time

from benchmarks.celery_app import app
from benchmarks.common import simulated_send

LATENCY_S = float(os.environ.get("BENCH_LATENCY_S", "0.05"))
_REDIS = os.environ.get("BENCH_REDIS_URL", "") if os.environ.get("BENCH_RECORD") == "redis" else ""
_client = None


@app.task(name="bench.migrate_send", bind=True, max_retries=3)
def send_welcome(self, to, name="friend"):
    simulated_send({"to": to, "name": name}, LATENCY_S)
    if _REDIS:
        global _client
        if _client is None:
            import redis

            _client = redis.Redis.from_url(_REDIS)
        _client.rpush("bench:done", time.time())
