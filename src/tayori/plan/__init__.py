"""Capacity and cost planner: how long a burst takes to drain, and what it costs.

``inputs`` holds ``PlanInput`` (the burst, the consumers, the measured constants);
``model`` plans the drain (AWS event source mapping, the local runtime, Celery) with the
simulator in ``simulation``;
``pricing`` counts every AWS request the burst makes and prices it from the dated
table ``tayori/data/prices.json``.
"""

from __future__ import annotations

from tayori.plan.model import (
    EMBEDDED_PROCESS_SCALING,
    EMBEDDED_RATE_PER_PROCESS,
    Plan,
    PlanInput,
    plan,
)
from tayori.plan.pricing import BroadcastShape, aws_costs, count_requests, load_prices
from tayori.plan.simulation import Scaling, Simulation, simulate

__all__ = [
    "EMBEDDED_PROCESS_SCALING",
    "EMBEDDED_RATE_PER_PROCESS",
    "BroadcastShape",
    "Plan",
    "PlanInput",
    "Scaling",
    "Simulation",
    "aws_costs",
    "count_requests",
    "load_prices",
    "plan",
    "simulate",
]
