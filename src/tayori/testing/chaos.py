"""Fault injection around a handler, for the demo and the reliability harness.

It wraps the handler from the outside, like the platform would misbehave: the
same batch delivered twice at once (SQS is at-least-once), and an execution
killed half-way through its batch. Production code has no switch for this.
"""

from __future__ import annotations

import copy
import random
import threading
from dataclasses import dataclass
from typing import Any

from tayori.runtime.local import HandlerFn


class InvocationKilled(BaseException):
    """Stands for a Lambda execution environment dying mid-batch."""


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    duplicate_rate: float = 0.1  # share of batches delivered a second time, concurrently
    kills: int = 1  # executions killed after half their batch
    kill_after_invocations: int = 3
    seed: int | None = None


class ChaosHandler:
    def __init__(self, handler: HandlerFn, config: ChaosConfig | None = None) -> None:
        self.handler = handler
        self.config = config or ChaosConfig()
        self._rng = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._invocations = 0
        self.duplicates_injected = 0
        self.kills_done = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            self._invocations += 1
            duplicate = self._rng.random() < self.config.duplicate_rate
            kill = (
                self.kills_done < self.config.kills
                and self._invocations >= self.config.kill_after_invocations
                and len(event.get("Records", [])) >= 2
            )
            if kill:
                self.kills_done += 1
            if duplicate:
                self.duplicates_injected += len(event.get("Records", []))
        if duplicate:  # a second poller got the same messages; its result goes nowhere
            twin = copy.deepcopy(event)
            threading.Thread(target=self._quietly, args=(twin, context), daemon=True).start()
        if kill:
            records = event["Records"]
            self.handler({"Records": records[: len(records) // 2]}, context)
            raise InvocationKilled("chaos: execution killed half-way through its batch")
        return self.handler(event, context)

    def _quietly(self, event: dict[str, Any], context: Any) -> None:
        try:
            self.handler(event, context)
        except Exception:
            pass
