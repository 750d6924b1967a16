"""Capacity and cost planner: how long a burst takes to drain, and what it costs.

Pure simulation, no I/O except reading the dated price table. The same event-driven
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

import heapq
import json
import math
import os
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tayori.errors import ConfigError

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


@cache
def load_prices(path: str | None = None) -> dict[str, Any]:
    """The one dated price table (``tayori/data/prices.json`` unless ``path`` is given)."""
    if path is None:
        text = resources.files("tayori").joinpath("data/prices.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return json.loads(text)


# --------------------------------------------------------------------------- simulation


@dataclass(frozen=True, slots=True)
class Scaling:
    """How many executions may run: ``start`` at once, ``+ramp_per_s`` while busy, up to ``cap``."""

    start: int
    cap: int
    ramp_per_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Simulation:
    drain_s: float
    peak_concurrency: int
    invocations: int
    busy_seconds: float  # sum of execution durations (what Lambda bills, before memory)
    cold_starts: int
    timeline: tuple[tuple[float, int, int], ...]  # (t, messages not yet done, executions)


def simulate(
    messages: int,
    *,
    batch_size: int,
    message_s: float,
    batch_overhead_s: float,
    scaling: Scaling,
    rate_cap: float | None = None,
    batching_window_s: float = 0.0,
    cold_start_s: float = 0.0,
    startup_s: float = 0.0,
    max_points: int = 1000,
) -> Simulation:
    """Drain ``messages`` already in the queue; event-driven, exact without a rate cap.

    An execution takes a batch of ``n``: first a part the rate cap cannot slow (batch
    overhead, cold start, batching window), then ``n * message_s`` of per-message work
    (provider call + idempotency writes). With a rate cap R, the ``A`` executions in that
    phase share it: each runs at speed ``min(1, R * message_s / A)`` (processor sharing,
    which is what a shared token bucket does to callers that wait, then send).
    """
    send = max(message_s, 1e-9) if rate_cap is not None else message_s
    queued = remaining = messages
    t = startup_s  # real time (the consumer starts after startup_s)
    v = 0.0  # work done by any one sending execution (virtual time)
    limit = max(1, min(scaling.start, scaling.cap))
    step = 1.0 / scaling.ramp_per_s if scaling.ramp_per_s > 0 else math.inf
    next_scale = step
    setup: list[tuple[float, float, int]] = []  # (setup ends at real t, started, size)
    sending: list[tuple[float, float, int]] = []  # (finish in virtual time, started, size)
    environments = peak = invocations = 0
    busy = 0.0
    points: list[tuple[float, int, int]] = [(0.0, remaining, 0), (t, remaining, 0)]
    next_scale += t
    while remaining > 0:
        while len(setup) + len(sending) < limit and queued > 0:
            size = min(batch_size, queued)
            queued -= size
            fixed = batch_overhead_s
            if size < batch_size:
                fixed += batching_window_s  # a short batch waits for the window to close
            if len(setup) + len(sending) >= environments:
                environments += 1
                fixed += cold_start_s
            heapq.heappush(setup, (t + fixed, t, size))
            invocations += 1
        peak = max(peak, len(setup) + len(sending))
        speed = 1.0
        if rate_cap is not None and sending:
            speed = min(1.0, rate_cap * send / len(sending))
        dt_send = (sending[0][0] - v) / speed if sending else math.inf
        dt_setup = setup[0][0] - t if setup else math.inf
        can_scale = limit < scaling.cap and queued > 0
        dt_scale = next_scale - t if can_scale else math.inf
        dt = max(0.0, min(dt_send, dt_setup, dt_scale))
        t += dt
        v += dt * speed
        if can_scale and dt_scale <= dt:
            limit += 1
            next_scale += step
        while setup and setup[0][0] <= t + 1e-12:
            _, started, size = heapq.heappop(setup)
            heapq.heappush(sending, (v + size * send, started, size))
        while sending and sending[0][0] <= v + 1e-12:
            _, started, size = heapq.heappop(sending)
            remaining -= size
            busy += t - started
        points.append((t, remaining, len(setup) + len(sending)))
    return Simulation(
        drain_s=t,
        peak_concurrency=peak,
        invocations=invocations,
        busy_seconds=busy,
        cold_starts=environments,
        timeline=_downsample(points, max_points),
    )


def _downsample(
    points: list[tuple[float, int, int]], max_points: int
) -> tuple[tuple[float, int, int], ...]:
    if len(points) <= max_points:
        return tuple(points)
    step = len(points) / max_points
    picked = [points[int(i * step)] for i in range(max_points)]
    return (*picked, points[-1])


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class PlanInput:
    """One burst: ``emails`` messages enqueued at once, each one provider call."""

    emails: int
    provider_rate: float | None  # emails/s the provider accepts; None = no limit
    latency_ms: float = 50.0  # one provider call
    batch_size: int = 10
    batching_window_s: float = 0.0
    max_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency; None = mapping limit
    memory_mb: int = 128
    payload_kb: float = 1.0
    architecture: str = "x86"
    # per message inside the function: the 2 idempotency writes to DynamoDB (~5 ms each)
    aws_message_overhead_ms: float = 10.0
    aws_batch_overhead_ms: float = 5.0  # decode the event, build the response
    cold_start_ms: float = 400.0  # one per execution environment; INIT is billed
    offload_threshold: int = 262_144
    max_batch_bytes: int = 262_144
    duplicate_rate: float = 0.0  # redeliveries that find a completed record (1 read each)
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
        _check(
            self.max_concurrency is None or 2 <= self.max_concurrency <= 1000,
            f"--max-concurrency (ScalingConfig.MaximumConcurrency) must be from 2 to 1000, "
            f"got {self.max_concurrency}",
        )
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
    esm = prices["esm"]
    notes: list[str] = []
    body_bytes = int(inp.payload_kb * KIB) + ENVELOPE_OVERHEAD_BYTES
    offloaded = body_bytes > inp.offload_threshold
    sqs_bytes = POINTER_BYTES if offloaded else body_bytes
    batch = min(inp.batch_size, max(1, LAMBDA_EVENT_LIMIT // (sqs_bytes + RECORD_OVERHEAD_BYTES)))
    if batch < inp.batch_size:
        notes.append(f"batch cut to {batch} messages by the 6 MB invocation payload limit")
    if offloaded:
        notes.append("payload over the offload threshold: bodies go through S3 (claim-check)")
    cap = inp.max_concurrency or esm["max_concurrency_per_mapping"]

    send_s = inp.latency_ms / 1000
    aws_message_s = send_s + inp.aws_message_overhead_ms / 1000
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
            start=esm["initial_concurrency"],
            cap=cap,
            ramp_per_s=esm["scale_up_per_minute"] / 60,
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

    costs, counts = _aws_costs(inp, prices, aws_sim, body_bytes, sqs_bytes, offloaded)
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
        "retries and free tiers are not included"
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


def _aws_costs(
    inp: PlanInput,
    prices: dict[str, Any],
    sim: Simulation,
    body_bytes: int,
    sqs_bytes: int,
    offloaded: bool,
) -> tuple[dict[str, float], dict[str, float]]:
    n = inp.emails
    chunk = prices["sqs"]["billing_chunk_bytes"]
    per_send_call = max(1, min(10, inp.max_batch_bytes // sqs_bytes))
    full, rest = divmod(n, per_send_call)
    send_requests = full * math.ceil(per_send_call * sqs_bytes / chunk)
    if rest:
        send_requests += math.ceil(rest * sqs_bytes / chunk)
    receive_calls = math.ceil(n / 10)  # the ESM receives up to 10 per call
    receive_requests = receive_calls * math.ceil(min(n, 10) * sqs_bytes / chunk)
    delete_requests = sim.invocations * math.ceil(min(n, inp.batch_size) / 10)
    sqs_requests = send_requests + receive_requests + delete_requests

    gb = inp.memory_mb / 1024
    gb_seconds = (sim.busy_seconds + sim.invocations * 0.0005) * gb  # 1 ms rounding
    lam = prices["lambda"]
    per_gbs = lam["per_gb_second_x86" if inp.architecture == "x86" else "per_gb_second_arm64"]

    writes = 2 * n  # Powertools: put INPROGRESS + update COMPLETED, each 1 WRU (< 1 KB item)
    reads = math.ceil(n * inp.duplicate_rate)
    s3_puts = s3_gets = n if offloaded else 0

    ddb = prices["dynamodb"]
    costs = {
        "sqs": sqs_requests * prices["sqs"]["standard_per_million_requests"] / 1e6,
        "lambda_requests": sim.invocations * lam["per_million_requests"] / 1e6,
        "lambda_compute": gb_seconds * per_gbs,
        "dynamodb_writes": writes * ddb["on_demand_per_million_write_units"] / 1e6,
        "dynamodb_reads": reads * ddb["on_demand_per_million_read_units"] / 1e6,
        "s3": s3_puts * prices["s3"]["put_per_thousand"] / 1000
        + s3_gets * prices["s3"]["get_per_thousand"] / 1000,
        "ses": n * prices["ses"]["per_thousand_emails"] / 1000,
    }
    costs["total"] = sum(costs.values())
    counts: dict[str, float] = {
        "sqs_send": send_requests,
        "sqs_receive": receive_requests,
        "sqs_delete": delete_requests,
        "sqs_total": sqs_requests,
        "lambda_invocations": sim.invocations,
        "lambda_gb_seconds": gb_seconds,
        "dynamodb_write_units": writes,
        "dynamodb_read_units": reads,
        "s3_put": s3_puts,
        "s3_get": s3_gets,
        "ses_emails": n,
        "message_bytes": body_bytes,
    }
    return costs, counts
