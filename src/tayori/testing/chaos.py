"""Fault injection around a handler, for the demo and the reliability harness.

It wraps the handler from the outside, like the platform would misbehave: the
same batch delivered twice at once (SQS is at-least-once), and an execution
killed half-way through its batch. Production code has no switch for this.

Which messages are duplicated is decided per message from a hash of the seed and the
message's business id (``payload.id``, else its message id), on its first delivery only.
So one seed injects the same duplicates whatever the batching and thread timing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import threading
from dataclasses import dataclass
from typing import Any

from tayori.runtime.local import HandlerFn


class InvocationKilled(BaseException):
    """Stands for a Lambda execution environment dying mid-batch."""


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    duplicate_rate: float = 0.1  # share of messages delivered a second time, concurrently
    kills: int = 1  # executions killed after half their batch
    kill_after_invocations: int = 3
    seed: int | None = None


class ChaosHandler:
    def __init__(self, handler: HandlerFn, config: ChaosConfig | None = None) -> None:
        self.handler = handler
        self.config = config or ChaosConfig()
        seed = self.config.seed
        self._seed = seed if seed is not None else random.SystemRandom().getrandbits(64)
        self._lock = threading.Lock()
        self._invocations = 0
        self._seen: set[str] = set()
        self.duplicates_injected = 0
        self.kills_done = 0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        records = event.get("Records", [])
        with self._lock:
            self._invocations += 1
            twins = [r for r in records if self._duplicate(r)]
            kill = (
                self.kills_done < self.config.kills
                and self._invocations >= self.config.kill_after_invocations
                and len(records) >= 2
            )
            if kill:
                self.kills_done += 1
            self.duplicates_injected += len(twins)
        if twins:  # a second poller got the same messages; its result goes nowhere
            twin = {"Records": copy.deepcopy(twins)}
            threading.Thread(target=self._quietly, args=(twin, context), daemon=True).start()
        if kill:
            self.handler({"Records": records[: len(records) // 2]}, context)
            raise InvocationKilled("chaos: execution killed half-way through its batch")
        return self.handler(event, context)

    def _duplicate(self, record: dict[str, Any]) -> bool:
        """Called under the lock: first delivery of a message whose hash is under the rate."""
        ident = _business_id(record)
        if ident in self._seen:
            return False
        self._seen.add(ident)
        digest = hashlib.sha256(f"{self._seed}:{ident}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.config.duplicate_rate

    def _quietly(self, event: dict[str, Any], context: Any) -> None:
        try:
            self.handler(event, context)
        except Exception:
            pass


def _business_id(record: dict[str, Any]) -> str:
    try:
        ident = json.loads(record.get("body", ""))["payload"]["id"]
        if isinstance(ident, str) and ident:
            return ident
    except (ValueError, KeyError, TypeError):
        pass
    return str(record.get("messageId", ""))
