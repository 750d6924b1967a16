"""The planner's inputs: one burst and the consumers that drain it (``PlanInput``).

Constants here are measured or fitted; each says where its figure comes from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tayori.deploy.template import TemplateOptions
from tayori.errors import ConfigError
from tayori.runtime.esm import MAXIMUM_CONCURRENCY_RANGE

KIB = 1024
LAMBDA_EVENT_LIMIT = 6 * 1024 * 1024  # invocation payload limit; the ESM cuts the batch there
RECORD_OVERHEAD_BYTES = 700  # messageId, receiptHandle, attributes, ARN... per Lambda record
ENVELOPE_OVERHEAD_BYTES = 200  # {"v":1,"task":...,"key":<uuid>,"sent_at":...} around the payload
POINTER_BYTES = 160  # claim-check pointer body + ExtendedPayloadSize attribute

# Messages/s one local-runtime process sustains when the handler path, not the send latency,
# is the limit (~1 core of Python: SQLite receive/lock/complete/delete plus thread switching),
# run as `tayori worker` runs it (threads on one claimed CPU). Source:
# benchmarks/results/broadcast_vs_celery.json, runs B1/B2 of 2026-12-01 (quiet machine):
# "tayori C=200", 1 process, drained 10,000 x 50 ms sends in 3.43 / 3.94 s, where the sends
# alone bound it at 2.5 s; 10,000 / (3.69 - 0.1 s startup) ~ 2,790/s, rounded to 2,800. A fit
# to those runs, not a validation: on a busy machine or a heavier handler it is lower.
# Override with machine_rate.
EMBEDDED_RATE_PER_PROCESS = 2800.0
# What each process after the first adds, as a fraction of machine_rate, while there are
# cores for it. Source: the same runs; "tayori C=200 (2 processes)" drained in 3.02 / 3.04 s,
# which 0.2 reproduces (3.09 s; the sends alone bound it at 2.5 s, so this mostly measures
# the tail, not a second core's rate). Also a fit to those runs, not a validation.
EMBEDDED_PROCESS_SCALING = 0.2
DYNAMODB_CALL_MS = 5.0  # one DynamoDB request from Lambda in the same region (typical)
# What running a batch's records side by side adds to it (asyncio loop, thread hand-offs).
# Source: benchmarks/in_invocation.py, 2026-11-30: a batch of 10 x 50 ms took 1.14-1.16 x
# one record's time in the local runtime, i.e. ~57 ms, so ~7 ms over the 50 ms send.
CONCURRENT_BATCH_OVERHEAD_MS = 7.0


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class PlanInput:
    """One burst: ``emails`` messages enqueued at once, each one provider call."""

    emails: int
    provider_rate: float | None  # emails/s the provider accepts; None = no limit
    latency_ms: float = 50.0  # one provider call
    batch_size: int = 10
    batching_window_s: float = 0.0
    # ScalingConfig.MaximumConcurrency: what `tayori template` deploys; None = mapping limit
    max_concurrency: int | None = TemplateOptions.max_concurrency
    memory_mb: int = TemplateOptions.memory_mb  # what `tayori template` deploys
    payload_kb: float = 1.0
    architecture: str = "x86"
    # per message inside the function besides the send; None: DYNAMODB_CALL_MS for each
    # DynamoDB call a send makes (see dynamodb_calls_per_email)
    aws_message_overhead_ms: float | None = None
    aws_batch_overhead_ms: float = 5.0  # decode the event, build the response
    # records of one invocation run at once: @app.task(concurrency=N); 1 = one after another
    task_concurrency: int = 1
    # the event loop + thread hand-offs of a concurrent batch (benchmarks/in_invocation.py:
    # a batch of 10 x 50 ms took 1.14-1.16 x one record, i.e. ~7 ms over 50 ms)
    concurrent_batch_overhead_ms: float = CONCURRENT_BATCH_OVERHEAD_MS
    timeout_s: float = TemplateOptions.timeout  # the function timeout every batch must hold
    cold_start_ms: float = 400.0  # one per execution environment; INIT is billed
    offload_threshold: int = 262_144
    max_batch_bytes: int = 262_144
    duplicate_rate: float = 0.0  # redeliveries that find a completed record (1 read each)
    # a Mailer broadcast (fan-out, mail-store outcome per email); False: bare tasks
    mail: bool = True
    rate_limiter: bool | None = None  # DynamoDBRateLimiter per send; None: when rate given
    chunk_size: int = 1000  # Mailer(chunk_size=...): recipients per stored chunk
    inline_limit: int = 1000  # Mailer(inline_limit=...): longer lists are chunked
    # embedded (local runtime) and Celery, for the same job
    embedded_concurrency: int = 200
    embedded_start: int | None = None  # None: all executions start at once
    embedded_ramp_per_s: float = 0.0
    embedded_message_overhead_ms: float = 0.5
    embedded_batch_overhead_ms: float = 3.0
    embedded_startup_ms: float = 100.0  # pollers start, the handler module is imported
    # worker processes (tayori worker --processes P); embedded_concurrency is split over them
    embedded_processes: int = 1
    # msg/s per process when the machine, not the send latency, is the limit; None = no limit
    machine_rate: float | None = EMBEDDED_RATE_PER_PROCESS
    process_scaling: float = EMBEDDED_PROCESS_SCALING  # share of machine_rate per extra process
    cores: int = field(default_factory=lambda: os.cpu_count() or 2)
    celery_workers: int = 10
    celery_task_overhead_ms: float = 2.0
    prices_path: str | None = None

    def __post_init__(self) -> None:
        _check(self.emails >= 1, f"--emails must be at least 1, got {self.emails}")
        _check(
            self.provider_rate is None or self.provider_rate > 0,
            f"--provider-rate must be > 0, got {self.provider_rate}",
        )
        _check(self.latency_ms >= 0, f"--latency-ms must be >= 0, got {self.latency_ms}")
        _check(
            1 <= self.batch_size <= 10_000,
            f"--batch-size must be from 1 to 10000, got {self.batch_size}",
        )
        _check(
            0 <= self.batching_window_s <= 300,
            f"batching window must be from 0 to 300 s, got {self.batching_window_s}",
        )
        low, high = MAXIMUM_CONCURRENCY_RANGE
        _check(
            self.max_concurrency is None or low <= self.max_concurrency <= high,
            f"--max-concurrency (ScalingConfig.MaximumConcurrency) must be from {low} to "
            f"{high}, got {self.max_concurrency}",
        )
        _check(self.chunk_size >= 1 and self.inline_limit >= 0, "bad chunk size / inline limit")
        _check(
            128 <= self.memory_mb <= 10_240,
            f"--memory-mb must be from 128 to 10240, got {self.memory_mb}",
        )
        _check(
            0 < self.payload_kb <= 2 * 1024 * 1024,
            f"--payload-kb must be > 0 and at most 2 GiB, got {self.payload_kb}",
        )
        _check(self.architecture in ("x86", "arm64"), "architecture must be x86 or arm64")
        _check(self.embedded_concurrency >= 1, "embedded concurrency must be at least 1")
        _check(
            1 <= self.embedded_processes <= self.embedded_concurrency,
            f"--processes must be from 1 to the concurrency ({self.embedded_concurrency}), "
            f"got {self.embedded_processes}",
        )
        _check(self.cores >= 1, f"cores must be at least 1, got {self.cores}")
        _check(
            self.machine_rate is None or self.machine_rate > 0,
            f"--machine-rate must be > 0, got {self.machine_rate}",
        )
        _check(0 <= self.process_scaling <= 1, "process scaling must be from 0 to 1")
        _check(self.celery_workers >= 1, "celery workers must be at least 1")
        _check(0 <= self.duplicate_rate <= 1, "duplicate rate must be from 0 to 1")
        _check(
            1 <= self.task_concurrency <= 10_000,
            f"--task-concurrency must be from 1 to 10000, got {self.task_concurrency}",
        )
        _check(
            0 < self.timeout_s <= 900,
            f"--timeout must be > 0 and at most 900 s (Lambda's limit), got {self.timeout_s}",
        )
        _check(self.concurrent_batch_overhead_ms >= 0, "concurrent batch overhead must be >= 0")

    @property
    def uses_rate_limiter(self) -> bool:
        return self.provider_rate is not None if self.rate_limiter is None else self.rate_limiter

    @property
    def dynamodb_calls_per_email(self) -> int:
        """Idempotency put + update; with mail, the outcome and suppression reads and the
        outcome transaction; with the rate limiter, its read and write."""
        return 2 + (3 if self.mail else 0) + (2 if self.uses_rate_limiter else 0)

    @property
    def aws_message_overhead_s(self) -> float:
        if self.aws_message_overhead_ms is not None:
            return self.aws_message_overhead_ms / 1000
        return self.dynamodb_calls_per_email * DYNAMODB_CALL_MS / 1000

    @property
    def embedded_executions(self) -> int:
        """Concurrency actually run: C // P in each of the P processes."""
        return self.embedded_concurrency // self.embedded_processes * self.embedded_processes

    @property
    def embedded_rate(self) -> float | None:
        """Msg/s the machine sustains: machine_rate for the first process, plus
        ``process_scaling`` x machine_rate for each further one that has a core."""
        if self.machine_rate is None:
            return None
        used = min(self.embedded_processes, self.cores)
        return self.machine_rate * (1 + (used - 1) * self.process_scaling)

    def batch_extra_s(self, width: int) -> float:
        """What a concurrent batch adds to the batch overhead (0 when sequential)."""
        return self.concurrent_batch_overhead_ms / 1000 if width > 1 else 0.0

    @property
    def effective_window_s(self) -> float:
        # AWS requires a batching window of at least 1 s for batches over 10 messages
        return max(self.batching_window_s, 1.0) if self.batch_size > 10 else self.batching_window_s


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)
