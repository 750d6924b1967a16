"""Sizes and the run of every scenario, in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reliability.result import ScenarioResult
from reliability.scenarios import (
    contention,
    faults,
    graceful,
    kill9,
    producer_crash,
    storage,
)


@dataclass(frozen=True)
class Sizes:
    recipients: int = 20_000
    kills: int = 20
    smtp_recipients: int = 20_000
    smtp_kills: int = 20
    producer: int = 20_000
    faults: int = 10_000
    contention_seconds: float = 60.0
    aws_messages: int = 150
    aws_outage_seconds: float = 6.0
    graceful: int = 400


FULL = Sizes()
SMOKE = Sizes(
    recipients=1500,
    kills=3,
    smtp_recipients=600,
    smtp_kills=2,
    producer=2000,
    faults=800,
    contention_seconds=4.0,
    aws_messages=40,
    aws_outage_seconds=3.0,
    graceful=200,
)
NAMES = ("kill9", "kill9-smtp", "producer", "faults", "contention", "storage", "aws", "graceful")


def scenarios(workdir: Path, s: Sizes) -> dict[str, Callable[[], list[ScenarioResult]]]:
    return {
        "kill9": lambda: [kill9.run(workdir / "kill9", s.recipients, s.kills)],
        "kill9-smtp": lambda: [
            kill9.run(workdir / "kill9-smtp", s.smtp_recipients, s.smtp_kills, transport="smtp")
        ],
        "producer": lambda: [
            producer_crash.run_send_many(workdir / "producer-send-many", s.producer),
            producer_crash.run_broadcast(workdir / "producer-broadcast", s.producer),
        ],
        "faults": lambda: [faults.run(workdir / "faults", s.faults)],
        "contention": lambda: [contention.run(workdir / "contention", s.contention_seconds)],
        "storage": lambda: [storage.run_local(workdir / "storage")],
        "aws": lambda: [
            storage.aws_faults(
                workdir / "aws", s.aws_messages, outage=s.aws_outage_seconds, faulty=5.0
            )
        ],
        "graceful": lambda: [graceful.run(workdir / "graceful", s.graceful)],
    }


def run_all(
    workdir: Path,
    sizes: Sizes = FULL,
    only: tuple[str, ...] = (),
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    out: list[ScenarioResult] = []
    for name, fn in scenarios(workdir, sizes).items():
        if only and name not in only:
            continue
        for result in fn():
            out.append(result)
            if on_result:
                on_result(result)
    return out


__all__ = ["FULL", "NAMES", "SMOKE", "Sizes", "run_all"]
