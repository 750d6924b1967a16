"""The queues a handler touches, looked up once: sources, their DLQs, redrive policies."""

from __future__ import annotations

import logging
import threading

from tayori.backends.base import Backend, Queue, RedrivePolicy

log = logging.getLogger("tayori.handler")


class QueueDirectory:
    """Queues by name, and each source queue's redrive policy (read once, then cached;
    a failed read is not cached, so a throttled call does not lose the DLQ for good)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._queues: dict[str, Queue] = {}
        self._policies: dict[str, RedrivePolicy | None] = {}
        self._limits: dict[str, int] = {}
        self._lock = threading.Lock()

    def queue(self, name: str) -> Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._backend.get_queue(name)
            with self._lock:
                queue = self._queues.setdefault(name, queue)
        return queue

    def redrive(self, name: str) -> RedrivePolicy | None:
        if name not in self._policies:
            try:
                spec = self.queue(name).spec()
            except Exception as exc:
                log.warning("cannot read redrive policy of %s: %s", name, exc)
                return None
            self._policies[name] = spec.redrive
        return self._policies[name]

    def max_receive_count(self, name: str) -> int | None:
        policy = self.redrive(name)
        return policy.max_receive_count if policy else None

    def size_limit(self, name: str) -> int:
        """The queue's MaximumMessageSize (what a send to it may hold)."""
        if name not in self._limits:
            self._limits[name] = self.queue(name).spec().max_message_size
        return self._limits[name]
