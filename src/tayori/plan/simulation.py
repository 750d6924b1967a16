"""The planner's event-driven simulator: one queue drained by a pool of executions.

The same simulator models the Lambda event source mapping, the local runtime and Celery
(see ``tayori.plan.model``), so their drain times are comparable.

``width`` is the in-invocation concurrency (``@app.task(concurrency=N)``): an execution
runs ``w = min(n, width)`` records of its batch of ``n`` at once, so its per-message part
takes ``ceil(n / w) * message_s`` and it asks the rate cap for ``w`` sends at a time; the
executions share the cap by their widths (width 1 is the sequential handler).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass


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
    longest_s: float  # the longest execution (what the function timeout must hold)
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
    width: int = 1,
    max_points: int = 1000,
) -> Simulation:
    """Drain ``messages`` already in the queue; event-driven, exact without a rate cap.

    An execution takes a batch of ``n``: first a part the rate cap cannot slow (batch
    overhead, cold start, batching window), then ``n * message_s`` of per-message work
    (provider call + idempotency writes). With a rate cap R, the ``A`` executions in that
    phase share it: each runs at speed ``min(1, R * message_s / A)`` (processor sharing,
    which is what a shared token bucket does to callers that wait, then send).
    ``width``: records of a batch run at once (see the module docstring).
    """
    send = max(message_s, 1e-9) if rate_cap is not None else message_s
    queued = remaining = messages
    t = startup_s  # real time (the consumer starts after startup_s)
    v = 0.0  # work done by any one sending execution (virtual time)
    limit = max(1, min(scaling.start, scaling.cap))
    step = 1.0 / scaling.ramp_per_s if scaling.ramp_per_s > 0 else math.inf
    next_scale = step
    width = max(1, width)
    setup: list[tuple[float, float, int]] = []  # (setup ends at real t, started, size)
    sending: list[tuple[float, float, int]] = []  # (finish in virtual time, started, size)
    environments = peak = invocations = 0
    sending_width = 0  # records being sent right now, over all sending executions
    durations: list[float] = []  # of every execution, as Lambda bills them
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
            speed = min(1.0, rate_cap * send / sending_width)
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
        sending_width += _start_sending(setup, sending, t, v, send, width)
        while sending and sending[0][0] <= v + 1e-12:
            _, started, size = heapq.heappop(sending)
            remaining -= size
            sending_width -= min(size, width)
            durations.append(t - started)
        points.append((t, remaining, len(setup) + len(sending)))
    return Simulation(
        drain_s=t,
        peak_concurrency=peak,
        invocations=invocations,
        busy_seconds=sum(durations),
        cold_starts=environments,
        longest_s=max(durations, default=0.0),
        timeline=_downsample(points, max_points),
    )


def _start_sending(
    setup: list[tuple[float, float, int]],
    sending: list[tuple[float, float, int]],
    t: float,
    v: float,
    send: float,
    width: int,
) -> int:
    """Move the executions whose fixed part has ended to sending; the records they add."""
    added = 0
    while setup and setup[0][0] <= t + 1e-12:
        _, started, size = heapq.heappop(setup)
        heapq.heappush(sending, (v + math.ceil(size / width) * send, started, size))
        added += min(size, width)
    return added


def _downsample(
    points: list[tuple[float, int, int]], max_points: int
) -> tuple[tuple[float, int, int], ...]:
    if len(points) <= max_points:
        return tuple(points)
    step = len(points) / max_points
    picked = [points[int(i * step)] for i in range(max_points)]
    return (*picked, points[-1])
