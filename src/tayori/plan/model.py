"""The planner's model: how long a burst takes to drain (prices: ``tayori.plan.pricing``).

Pure simulation, no I/O. The same event-driven
simulator models three consumers of one queue, so their drain times are comparable:

- AWS: the Lambda SQS event source mapping (ESM). It starts with 5 concurrent batches
  and adds up to 300 executions a minute while batches come back full (modelled as a
  steady ramp of 5 a second), up to 1,250 per mapping or ``MaximumConcurrency``.
- embedded: the local runtime, ``C`` executions split over ``P`` worker processes on one
  machine (``tayori worker --processes P``), capped by what each process can push through
  SQLite and the handler (``machine_rate``, per process) times the processes that get a
  core of their own (see ``embedded_rate``).
- Celery: ``W`` prefork workers, one task at a time each (prefetch 1), no batching.

A provider rate cap (SES sending quota) slows every execution equally: executions share
the rate like processor sharing, so a capped run keeps paying for waiting executions —
which is why the planner recommends a ``MaximumConcurrency`` that just saturates the cap.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from tayori.deploy.template import TemplateOptions
from tayori.errors import ConfigError
from tayori.plan.pricing import BroadcastShape, aws_costs, load_prices
from tayori.plan.simulation import Scaling, simulate
from tayori.runtime.esm import (
    INITIAL_CONCURRENCY,
    MAX_CONCURRENCY_PER_MAPPING,
    MAXIMUM_CONCURRENCY_RANGE,
    SCALE_UP_PER_MINUTE,
)

KIB = 1024
LAMBDA_EVENT_LIMIT = 6 * 1024 * 1024  # invocation payload limit; the ESM cuts the batch there
RECORD_OVERHEAD_BYTES = 700  # messageId, receiptHandle, attributes, ARN... per Lambda record
ENVELOPE_OVERHEAD_BYTES = 200  # {"v":1,"task":...,"key":<uuid>,"sent_at":...} around the payload
POINTER_BYTES = 160  # claim-check pointer body + ExtendedPayloadSize attribute

# Messages/s one local-runtime process sustains when the handler path, not the send latency,
# is the limit (~1 core of Python: SQLite receive/lock/complete/delete plus thread switching).
# Source: benchmarks/results/broadcast_vs_celery.json, the quiet-machine run of 2026-11-29:
# "tayori C=200", 1 process, drained 10,000 x 50 ms sends in 5.55 s, where the sends alone
# bound it at 2.5 s; 10,000 / (5.55 - 0.1 s startup) ~ 1,835/s, rounded to 1,800. A fit to
# that run, not a validation: on a busy machine or a heavier handler it is lower, and the
# handler path alone (one thread, no contention) reaches ~5,700/s. Override with machine_rate.
EMBEDDED_RATE_PER_PROCESS = 1800.0
# What each process after the first adds, as a fraction of machine_rate, while there are
# cores for it. Source: the same run; "tayori C=200 (2 processes)" drained in 3.97 s, i.e.
# 10,000 / 3.87 s ~ 2,580/s = 1.41 x the 1-process rate. Why not 2 x was not measured (the
# processes share SQLite's write lock; one process may already use part of the second core
# while SQLite runs without the GIL). Also a fit to that run, not a validation.
EMBEDDED_PROCESS_SCALING = 0.4
DYNAMODB_CALL_MS = 5.0  # one DynamoDB request from Lambda in the same region (typical)


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
    memory_mb: int = 128
    payload_kb: float = 1.0
    architecture: str = "x86"
    # per message inside the function besides the send; None: DYNAMODB_CALL_MS for each
    # DynamoDB call a send makes (see dynamodb_calls_per_email)
    aws_message_overhead_ms: float | None = None
    aws_batch_overhead_ms: float = 5.0  # decode the event, build the response
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

    @property
    def effective_window_s(self) -> float:
        # AWS requires a batching window of at least 1 s for batches over 10 messages
        return max(self.batching_window_s, 1.0) if self.batch_size > 10 else self.batching_window_s


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


# --------------------------------------------------------------------------- plan


@dataclass
class Plan:
    inputs: dict[str, Any]
    aws: dict[str, Any]
    embedded: dict[str, Any]
    celery: dict[str, Any]
    prices: dict[str, str]
    notes: list[str] = field(default_factory=list)
    timelines: dict[str, tuple[tuple[float, int, int], ...]] = field(default_factory=dict)

    def to_dict(self, *, timelines: bool = False) -> dict[str, Any]:
        out = asdict(self)
        if not timelines:
            out.pop("timelines")
        return out


def plan(inp: PlanInput) -> Plan:
    """Simulate the burst on AWS, embedded and Celery, and price the AWS run."""
    prices = load_prices(inp.prices_path)
    notes: list[str] = []
    body_bytes = int(inp.payload_kb * KIB) + ENVELOPE_OVERHEAD_BYTES
    offloaded = body_bytes > inp.offload_threshold
    sqs_bytes = POINTER_BYTES if offloaded else body_bytes
    batch = min(inp.batch_size, max(1, LAMBDA_EVENT_LIMIT // (sqs_bytes + RECORD_OVERHEAD_BYTES)))
    if batch < inp.batch_size:
        notes.append(f"batch cut to {batch} messages by the 6 MB invocation payload limit")
    if offloaded:
        notes.append("payload over the offload threshold: bodies go through S3 (claim-check)")
    cap = inp.max_concurrency or MAX_CONCURRENCY_PER_MAPPING

    send_s = inp.latency_ms / 1000
    aws_message_s = send_s + inp.aws_message_overhead_s
    aws_batch_s = inp.aws_batch_overhead_ms / 1000 + (
        0.05 * batch / 1000 if offloaded else 0.0
    )  # + one S3 GET (~50 ms) per offloaded message
    if offloaded:
        aws_message_s += 0.05
    aws_sim = simulate(
        inp.emails,
        batch_size=batch,
        message_s=aws_message_s,
        batch_overhead_s=aws_batch_s,
        scaling=Scaling(
            start=INITIAL_CONCURRENCY,
            cap=cap,
            ramp_per_s=SCALE_UP_PER_MINUTE / 60,
        ),
        rate_cap=inp.provider_rate,
        batching_window_s=inp.effective_window_s,
        cold_start_s=inp.cold_start_ms / 1000,
    )
    recommended = None
    if inp.provider_rate is not None:
        recommended = _recommend_concurrency(inp, batch, aws_message_s, aws_batch_s)
        if aws_sim.peak_concurrency > recommended * 1.1:
            notes.append(
                f"the provider rate caps the drain: MaximumConcurrency={recommended} drains "
                "about as fast and stops paying for executions that wait on the rate limiter"
            )

    shape = BroadcastShape(
        emails=inp.emails,
        batch_size=inp.batch_size,
        max_batch_bytes=inp.max_batch_bytes,
        body_bytes=body_bytes,
        sqs_bytes=sqs_bytes,
        offloaded=offloaded,
        invocations=aws_sim.invocations,
        busy_seconds=aws_sim.busy_seconds,
        memory_mb=inp.memory_mb,
        architecture=inp.architecture,
        duplicate_rate=inp.duplicate_rate,
        mail=inp.mail,
        rate_limiter=inp.uses_rate_limiter,
        chunk_size=inp.chunk_size,
        inline_limit=inp.inline_limit,
    )
    costs, counts = aws_costs(shape, prices)
    per_million = {k: v * 1_000_000 / inp.emails for k, v in costs.items()}
    ideal = _ideal_s(inp.emails, send_s, cap, inp.provider_rate)
    aws = {
        "drain_s": aws_sim.drain_s,
        "peak_concurrency": aws_sim.peak_concurrency,
        "ideal_drain_s": ideal,
        "batch_size": batch,
        "invocations": aws_sim.invocations,
        "cold_starts": aws_sim.cold_starts,
        "gb_seconds": counts["lambda_gb_seconds"],
        "recommended_max_concurrency": recommended,
        "claim_check": offloaded,
        "requests": counts,
        "cost": costs,
        "cost_per_million": per_million,
    }

    # P processes of C/P executions each, sharing one queue, drain like one pool of
    # P x (C // P) executions; the machine limit is the processes' combined rate.
    executions = inp.embedded_executions
    embedded_rate = _min_rate(inp.provider_rate, inp.embedded_rate)
    emb_sim = simulate(
        inp.emails,
        batch_size=min(inp.batch_size, 10),
        message_s=send_s + inp.embedded_message_overhead_ms / 1000,
        batch_overhead_s=inp.embedded_batch_overhead_ms / 1000,
        scaling=Scaling(
            start=min(inp.embedded_start or executions, executions),
            cap=executions,
            ramp_per_s=inp.embedded_ramp_per_s,
        ),
        rate_cap=embedded_rate,
        startup_s=inp.embedded_startup_ms / 1000,
    )
    if inp.embedded_processes > inp.cores:
        notes.append(
            f"{inp.embedded_processes} worker processes on {inp.cores} cores: the processes "
            "beyond one per core add no machine rate"
        )
    embedded = {
        "drain_s": emb_sim.drain_s,
        "concurrency": executions,
        "processes": inp.embedded_processes,
        "cores": inp.cores,
        "peak_concurrency": emb_sim.peak_concurrency,
        "ideal_drain_s": _ideal_s(inp.emails, send_s, executions, embedded_rate),
        "machine_rate": inp.machine_rate,
        "machine_rate_total": inp.embedded_rate,
        "cost": {"ses": costs["ses"], "total": costs["ses"]},
    }

    cel_sim = simulate(
        inp.emails,
        batch_size=1,
        message_s=send_s,
        batch_overhead_s=inp.celery_task_overhead_ms / 1000,
        scaling=Scaling(start=inp.celery_workers, cap=inp.celery_workers),
        rate_cap=inp.provider_rate,
    )
    celery = {
        "drain_s": cel_sim.drain_s,
        "workers": inp.celery_workers,
        "ideal_drain_s": _ideal_s(inp.emails, send_s, inp.celery_workers, inp.provider_rate),
        "cost": {"ses": costs["ses"], "total": costs["ses"]},
    }
    notes.append(
        "ESM scaling modelled as a steady +5 executions/s; idle long-poll receives, "
        "retries, contention re-tries and free tiers are not included"
    )
    return Plan(
        inputs=asdict(inp),
        aws=aws,
        embedded=embedded,
        celery=celery,
        prices={"region": prices["region"], "as_of": prices["as_of"]},
        notes=notes,
        timelines={
            "aws": aws_sim.timeline,
            "embedded": emb_sim.timeline,
            "celery": cel_sim.timeline,
        },
    )


def _recommend_concurrency(inp: PlanInput, batch: int, message_s: float, batch_s: float) -> int:
    """Smallest MaximumConcurrency whose drain is within 5% of the provider-rate bound.

    Searched on a sample of the burst (long enough for the ESM ramp not to matter).
    """
    assert inp.provider_rate is not None
    sample = min(inp.emails, max(2000, int(inp.provider_rate * 30)), 50_000)

    def drain(cap: int) -> float:
        return simulate(
            sample,
            batch_size=batch,
            message_s=message_s,
            batch_overhead_s=batch_s,
            scaling=Scaling(start=cap, cap=cap),
            rate_cap=inp.provider_rate,
        ).drain_s

    target = 1.05 * max(sample / inp.provider_rate, drain(1000))
    low, high = 2, 1000
    while low < high:
        mid = (low + high) // 2
        if drain(mid) <= target:
            high = mid
        else:
            low = mid + 1
    return low


def _min_rate(a: float | None, b: float | None) -> float | None:
    rates = [r for r in (a, b) if r is not None]
    return min(rates) if rates else None


def _ideal_s(n: int, send_s: float, concurrency: int, rate: float | None) -> float:
    """The physical bound: N x latency / concurrency, or N / rate when the rate binds."""
    bound = n * send_s / concurrency
    return max(bound, n / rate) if rate else bound
