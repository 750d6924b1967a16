"""The idempotency guard of one task: Powertools' ``idempotent_function``, built once.

Building ``IdempotencyConfig`` and ``idempotent_function`` per record cost ~20 µs of the
hot path (the decorator, ``functools.wraps``, the config). One guard per task is built
instead; what differs per call (the Lambda context for the in-progress expiry, the record
for the duplicate hook) is read from a context variable, so concurrent records (threads
or asyncio tasks of one invocation) each see their own.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

_CALL: ContextVar[tuple[Any, Any]] = ContextVar("tayori_guarded_call")


class _PerCallConfig(IdempotencyConfig):
    """A config whose Lambda context and response hook are the running call's."""

    def __init__(self, expiry_seconds: int, on_duplicate: Callable[[Any, Any], Any]) -> None:
        self._on_duplicate = on_duplicate
        super().__init__(
            event_key_jmespath="k",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expiry_seconds,
        )

    @property  # type: ignore[override]
    def lambda_context(self) -> Any:
        return _CALL.get((None, None))[1]

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:  # per call, never stored
        pass

    @property  # type: ignore[override]
    def response_hook(self) -> Callable[[Any, Any], Any]:
        return self._hook

    @response_hook.setter
    def response_hook(self, value: Any) -> None:
        pass

    def _hook(self, response: Any, _record: Any) -> Any:
        return self._on_duplicate(_CALL.get((None, None))[0], response)


class Guard:
    """``guard(key, call, info, context)`` runs ``call()`` at most once per key."""

    def __init__(
        self,
        layer: BasePersistenceLayer,
        key_prefix: str,
        expiry_seconds: int,
        on_duplicate: Callable[[Any, Any], Any],
    ) -> None:
        def body(data: dict[str, Any], call: Callable[[], Any]) -> Any:
            return call()

        body.__qualname__ = key_prefix  # Powertools names the function by it
        self._guarded = idempotent_function(
            body,
            data_keyword_argument="data",
            persistence_store=layer,
            config=_PerCallConfig(expiry_seconds, on_duplicate),
            key_prefix=key_prefix,
        )

    def __call__(self, key: str, call: Callable[[], Any], info: Any, context: Any) -> Any:
        lambda_context = context if hasattr(context, "get_remaining_time_in_millis") else None
        token = _CALL.set((info, lambda_context))
        try:
            return self._guarded(data={"k": key}, call=call)
        finally:
            _CALL.reset(token)
