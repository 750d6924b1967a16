"""Consume an unchanged Celery app's SQS queues with tayori: on Lambda or ``tayori worker``.

``CeleryWorker(celery_app)`` is what replaces the Celery workers: its ``lambda_handler``
is the Lambda entry point, and ``tayori worker --app proj.celery:app`` runs it locally.
The queues are the ones the Celery app sends to (``task_default_queue``, ``task_queues``,
with kombu's ``queue_name_prefix`` and name rules); each needs a DLQ (redrive policy):
``ensure_queues()`` creates missing ones with it, and refuses a queue without one.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from celery import Celery

from tayori.app import App
from tayori.backends.base import Backend, Queue
from tayori.consumer.handler import Handler
from tayori.contrib.celery.tasks import CeleryRegistry
from tayori.errors import ConfigError
from tayori.runtime.local import LocalRuntime, RuntimeConfig, Source
from tayori.settings import Settings
from tayori.wire.celery import CeleryCodec

# kombu's SQS transport: '.' -> '-', other punctuation but '-' and '_' -> '_'
_KOMBU_NAME = {ord(c): "_" for c in string.punctuation if c not in "-_."}
_KOMBU_NAME[ord(".")] = "-"


def sqs_queue_names(celery_app: Celery) -> list[str]:
    """The SQS queue names the Celery app sends to, as kombu's SQS transport names them."""
    conf = celery_app.conf
    prefix = (conf.broker_transport_options or {}).get("queue_name_prefix", "")
    names = [conf.task_default_queue]
    names += [q.name for q in conf.task_queues or ()]
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(f"{prefix}{name}".translate(_KOMBU_NAME), None)
    return list(seen)


class CeleryWorker:
    """tayori's handler (partial batch response, idempotency on the Celery task id,
    retries counted in the message, DLQ with the reason) over a Celery app's tasks."""

    def __init__(
        self,
        celery_app: Celery,
        *,
        settings: Settings | None = None,
        backend: Backend | None = None,
        queues: Sequence[str] | None = None,
    ) -> None:
        self.celery = celery_app
        # what a Celery worker does at start: its Django fixup runs django.setup()
        celery_app.loader.import_default_modules()
        self.registry = CeleryRegistry(celery_app)
        self.name = self.registry.name
        self.app = App(self.name, settings=settings, backend=backend)  # queues, backend
        self._queue_names = list(queues) if queues else sqs_queue_names(celery_app)

    def __repr__(self) -> str:
        return f"<CeleryWorker {self.name} queues={self._queue_names}>"

    @property
    def tasks(self) -> dict[str, Any]:
        return self.registry.tasks

    @property
    def queue_names(self) -> list[str]:
        return list(self._queue_names)

    @property
    def backend(self) -> Backend:
        return self.app.backend

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @cached_property
    def handler(self) -> Handler:
        codec = CeleryCodec(self.app.claim_check)
        return Handler(self.registry, codec, self.backend, self.settings, self.app.claim_check)  # type: ignore[arg-type]

    def lambda_handler(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """AWS Lambda entry point for the Celery app's queues."""
        return self.handler(event, context)

    def ensure_queues(self) -> list[Queue]:
        """Each queue with its DLQ: missing ones are created (with the redrive policy);
        an existing queue without one is refused (a failing task would loop forever)."""
        queues = [self.app.queue(name) for name in self._queue_names]
        for queue in queues:
            if queue.spec().redrive is None:
                raise ConfigError(
                    f"queue {queue.name!r} has no redrive policy (DLQ): create it with "
                    "`tayori` first (CeleryWorker.ensure_queues on a new queue) or add one"
                )
        return queues

    def setup(self) -> list[str]:
        """Create what the handler needs: the backend's bucket and idempotency table (AWS)
        and each queue with its DLQ. Idempotent; returns the queue names."""
        create = getattr(self.backend, "create_resources", None)
        if callable(create):
            create()
        return [q.name for q in self.ensure_queues()]

    def source(self, queues: Sequence[str] | None = None) -> Source:
        names = list(queues) if queues else self._queue_names
        wanted = set(names)
        polled = tuple(q for q in self.ensure_queues() if q.name in wanted)
        return Source(polled, self.lambda_handler, self.name, self.backend.region)

    def runtime(self, config: RuntimeConfig | None = None) -> LocalRuntime:
        """``tayori worker`` over the Celery app's queues."""
        config = config or RuntimeConfig()
        return LocalRuntime(self.source(config.queues), config)
