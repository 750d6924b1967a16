"""One scenario's outcome, the table and the JSON report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ScenarioResult:
    name: str
    size: str  # what ran, in words ("20,000 recipients, 20 kills")
    messages_in: int
    delivered: int
    lost: int
    duplicates: int
    dead_lettered: int = 0
    dlq_reasons: dict[str, int] = field(default_factory=dict)
    expected_dead: int = 0  # dead letters the scenario means to cause (permanent errors)
    window: int | None = None  # duplicates allowed: emails caught in the counted window
    health: str = ""
    problems: list[str] = field(default_factory=list)  # why ok is False, one line each
    details: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and self.lost == 0
            and self.duplicates <= (self.window or 0)
            and self.dead_lettered == self.expected_dead
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def render(results: list[ScenarioResult]) -> None:
    """Print the rich table (to stdout)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tayori reliability harness", show_lines=True)
    for col in ("scenario", "size", "in", "delivered", "lost", "dup / window", "DLQ (reasons)"):
        table.add_column(col, overflow="fold")
    table.add_column("worker health at end", overflow="fold", max_width=40)
    table.add_column("ok")
    for r in results:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.dlq_reasons.items()))
        window = "-" if r.window is None else str(r.window)
        table.add_row(
            r.name,
            r.size,
            f"{r.messages_in:,}",
            f"{r.delivered:,}",
            str(r.lost),
            f"{r.duplicates} / {window}",
            f"{r.dead_lettered}" + (f" ({reasons})" if reasons else ""),
            r.health + ("; " + "; ".join(r.problems) if r.problems else ""),
            "[green]yes[/]" if r.ok else "[red]NO[/]",
        )
    Console(width=max(Console().width, 150)).print(table)


def write_json(results: list[ScenarioResult], path: str | Path, meta: dict[str, Any]) -> None:
    data = {"meta": meta, "scenarios": [r.to_dict() for r in results]}
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
