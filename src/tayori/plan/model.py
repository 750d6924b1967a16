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

In-invocation concurrency (``@app.task(concurrency=N)``, ``PlanInput.task_concurrency``)
runs N records of a batch at once: a batch of B x latency L takes about ceil(B/N) x L plus
overhead instead of B x L, in both the Lambda and the local runtime. The provider rate cap
is still shared by every record in flight, and every batch must still end within the
function timeout (``plan`` refuses a batch that cannot, and warns when the rate cap would
stretch batches past it). With N > 1 the plan adds ``in_invocation``: the Lambda run with
and without it, side by side.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from tayori.errors import ConfigError
from tayori.plan.inputs import (
    EMBEDDED_PROCESS_SCALING,
    EMBEDDED_RATE_PER_PROCESS,
    ENVELOPE_OVERHEAD_BYTES,
    KIB,
    LAMBDA_EVENT_LIMIT,
    POINTER_BYTES,
    RECORD_OVERHEAD_BYTES,
    PlanInput,
)
from tayori.plan.pricing import BroadcastShape, aws_costs, load_prices
from tayori.plan.simulation import Scaling, Simulation, simulate
from tayori.runtime.esm import (
    INITIAL_CONCURRENCY,
    MAX_CONCURRENCY_PER_MAPPING,
    SCALE_UP_PER_MINUTE,
)

__all__ = [
    "EMBEDDED_PROCESS_SCALING",
    "EMBEDDED_RATE_PER_PROCESS",
    "INITIAL_CONCURRENCY",
    "SCALE_UP_PER_MINUTE",
    "Plan",
    "PlanInput",
    "plan",
]

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
    # with task_concurrency > 1: the Lambda run without and with it ({"without", "with"})
    in_invocation: dict[str, Any] | None = None

    def to_dict(self, *, timelines: bool = False) -> dict[str, Any]:
        out = asdict(self)
        if not timelines:
            out.pop("timelines")
        return out


@dataclass(frozen=True, slots=True)
class _Lambda:
    """What every Lambda run of one burst shares: batch, message and batch times."""

    batch: int
    body_bytes: int
    sqs_bytes: int
    offloaded: bool
    message_s: float  # one record: send + DynamoDB calls (+ an S3 GET when offloaded)
    batch_s: float  # one invocation: decode the event, build the response (+ S3 GETs)
    cap: int  # MaximumConcurrency or the mapping's limit


def plan(inp: PlanInput) -> Plan:
    """Simulate the burst on AWS, embedded and Celery, and price the AWS run."""
    prices = load_prices(inp.prices_path)
    notes: list[str] = []
    lam = _lambda_shape(inp, notes)
    width = inp.task_concurrency
    _refuse_batches_over_the_timeout(inp, lam, width)
    aws_sim, aws = _aws_run(inp, lam, prices, width, notes)
    in_invocation = None
    if width > 1:
        _, without = _aws_run(inp, lam, prices, 1, [])
        in_invocation = {"task_concurrency": width, "without": without, "with": aws}
    emb_sim, embedded = _embedded_run(inp, aws["cost"]["ses"], notes)
    cel_sim, celery = _celery_run(inp, aws["cost"]["ses"])
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
        in_invocation=in_invocation,
    )


def _lambda_shape(inp: PlanInput, notes: list[str]) -> _Lambda:
    body_bytes = int(inp.payload_kb * KIB) + ENVELOPE_OVERHEAD_BYTES
    offloaded = body_bytes > inp.offload_threshold
    sqs_bytes = POINTER_BYTES if offloaded else body_bytes
    batch = min(inp.batch_size, max(1, LAMBDA_EVENT_LIMIT // (sqs_bytes + RECORD_OVERHEAD_BYTES)))
    if batch < inp.batch_size:
        notes.append(f"batch cut to {batch} messages by the 6 MB invocation payload limit")
    if offloaded:
        notes.append("payload over the offload threshold: bodies go through S3 (claim-check)")
    message_s = inp.latency_ms / 1000 + inp.aws_message_overhead_s
    batch_s = inp.aws_batch_overhead_ms / 1000
    if offloaded:  # + one S3 GET (~50 ms) per offloaded message
        message_s += 0.05
        batch_s += 0.05 * batch / 1000
    return _Lambda(
        batch=batch,
        body_bytes=body_bytes,
        sqs_bytes=sqs_bytes,
        offloaded=offloaded,
        message_s=message_s,
        batch_s=batch_s,
        cap=inp.max_concurrency or MAX_CONCURRENCY_PER_MAPPING,
    )


def _batch_s(inp: PlanInput, lam: _Lambda, width: int) -> float:
    """One full batch on a cold environment, with the provider rate not binding."""
    rounds = math.ceil(lam.batch / min(width, lam.batch))
    return (
        inp.cold_start_ms / 1000 + lam.batch_s + inp.batch_extra_s(width) + rounds * lam.message_s
    )


def _refuse_batches_over_the_timeout(inp: PlanInput, lam: _Lambda, width: int) -> None:
    needed = _batch_s(inp, lam, width)
    if needed > inp.timeout_s:
        raise ConfigError(
            f"a batch of {lam.batch} x {lam.message_s * 1000:g} ms at task concurrency "
            f"{width} takes {needed:.1f} s, over the function timeout of {inp.timeout_s:g} s: "
            "lower --batch-size, raise --task-concurrency or --timeout"
        )


def _aws_run(
    inp: PlanInput, lam: _Lambda, prices: dict[str, Any], width: int, notes: list[str]
) -> tuple[Simulation, dict[str, Any]]:
    """The Lambda run at in-invocation concurrency ``width``, simulated and priced."""
    batch_s = lam.batch_s + inp.batch_extra_s(width)
    sim = simulate(
        inp.emails,
        batch_size=lam.batch,
        message_s=lam.message_s,
        batch_overhead_s=batch_s,
        scaling=Scaling(
            start=INITIAL_CONCURRENCY, cap=lam.cap, ramp_per_s=SCALE_UP_PER_MINUTE / 60
        ),
        rate_cap=inp.provider_rate,
        batching_window_s=inp.effective_window_s,
        cold_start_s=inp.cold_start_ms / 1000,
        width=width,
    )
    recommended = None
    if inp.provider_rate is not None:
        recommended = _recommend_concurrency(inp, lam.batch, lam.message_s, batch_s, width)
        if sim.peak_concurrency > recommended * 1.1:
            notes.append(
                f"the provider rate caps the drain: MaximumConcurrency={recommended} drains "
                "about as fast and stops paying for executions that wait on the rate limiter"
            )
    if sim.longest_s > inp.timeout_s:
        notes.append(
            f"warning: waiting on the provider rate stretches a batch to {sim.longest_s:.0f} s, "
            f"over the function timeout of {inp.timeout_s:g} s: lower MaximumConcurrency "
            f"(to {recommended}) so batches end in time"
        )
    shape = BroadcastShape(
        emails=inp.emails,
        batch_size=inp.batch_size,
        max_batch_bytes=inp.max_batch_bytes,
        body_bytes=lam.body_bytes,
        sqs_bytes=lam.sqs_bytes,
        offloaded=lam.offloaded,
        invocations=sim.invocations,
        busy_seconds=sim.busy_seconds,
        memory_mb=inp.memory_mb,
        architecture=inp.architecture,
        duplicate_rate=inp.duplicate_rate,
        mail=inp.mail,
        rate_limiter=inp.uses_rate_limiter,
        chunk_size=inp.chunk_size,
        inline_limit=inp.inline_limit,
    )
    costs, counts = aws_costs(shape, prices)
    return sim, {
        "drain_s": sim.drain_s,
        "peak_concurrency": sim.peak_concurrency,
        "ideal_drain_s": _ideal_s(
            inp.emails, inp.latency_ms / 1000 / width, lam.cap, inp.provider_rate
        ),
        "batch_size": lam.batch,
        "task_concurrency": width,
        "invocations": sim.invocations,
        "cold_starts": sim.cold_starts,
        "longest_invocation_s": sim.longest_s,
        "gb_seconds": counts["lambda_gb_seconds"],
        "recommended_max_concurrency": recommended,
        "claim_check": lam.offloaded,
        "requests": counts,
        "cost": costs,
        "cost_per_million": {k: v * 1_000_000 / inp.emails for k, v in costs.items()},
    }


def _embedded_run(
    inp: PlanInput, ses: float, notes: list[str]
) -> tuple[Simulation, dict[str, Any]]:
    """P processes of C/P executions each, sharing one queue, drain like one pool of
    P x (C // P) executions; the machine limit is the processes' combined rate."""
    executions = inp.embedded_executions
    rate = _min_rate(inp.provider_rate, inp.embedded_rate)
    width = inp.task_concurrency
    send_s = inp.latency_ms / 1000
    sim = simulate(
        inp.emails,
        batch_size=min(inp.batch_size, 10),
        message_s=send_s + inp.embedded_message_overhead_ms / 1000,
        batch_overhead_s=inp.embedded_batch_overhead_ms / 1000 + inp.batch_extra_s(width),
        scaling=Scaling(
            start=min(inp.embedded_start or executions, executions),
            cap=executions,
            ramp_per_s=inp.embedded_ramp_per_s,
        ),
        rate_cap=rate,
        startup_s=inp.embedded_startup_ms / 1000,
        width=width,
    )
    if inp.embedded_processes > inp.cores:
        notes.append(
            f"{inp.embedded_processes} worker processes on {inp.cores} cores: the processes "
            "beyond one per core add no machine rate"
        )
    return sim, {
        "drain_s": sim.drain_s,
        "concurrency": executions,
        "processes": inp.embedded_processes,
        "cores": inp.cores,
        "task_concurrency": width,
        "peak_concurrency": sim.peak_concurrency,
        "invocations": sim.invocations,
        "busy_s": sim.busy_seconds,  # sum of invocation durations (Lambda would bill these)
        "ideal_drain_s": _ideal_s(inp.emails, send_s / width, executions, rate),
        "machine_rate": inp.machine_rate,
        "machine_rate_total": inp.embedded_rate,
        "cost": {"ses": ses, "total": ses},
    }


def _celery_run(inp: PlanInput, ses: float) -> tuple[Simulation, dict[str, Any]]:
    send_s = inp.latency_ms / 1000
    sim = simulate(
        inp.emails,
        batch_size=1,
        message_s=send_s,
        batch_overhead_s=inp.celery_task_overhead_ms / 1000,
        scaling=Scaling(start=inp.celery_workers, cap=inp.celery_workers),
        rate_cap=inp.provider_rate,
    )
    return sim, {
        "drain_s": sim.drain_s,
        "workers": inp.celery_workers,
        "ideal_drain_s": _ideal_s(inp.emails, send_s, inp.celery_workers, inp.provider_rate),
        "cost": {"ses": ses, "total": ses},
    }


def _recommend_concurrency(
    inp: PlanInput, batch: int, message_s: float, batch_s: float, width: int = 1
) -> int:
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
            width=width,
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
