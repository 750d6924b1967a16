"""Task arguments as JSON, the way Celery's JSON serializer (kombu) writes them.

``datetime``, ``date``, ``time``, ``Decimal``, ``UUID`` and ``bytes`` travel as
``{"__type__": "<name>", "__value__": ...}`` and come back as the same type, exactly as
kombu 5.3+ encodes them, so a Celery worker and tayori read each other's arguments.
Any ``json.JSONEncoder`` subclass can replace the encoder (Django's
``DjangoJSONEncoder`` writes those types as plain strings instead).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

Encoder = type[json.JSONEncoder]
_TAG = {"__type__", "__value__"}


def _tagged(kind: str, value: Any) -> dict[str, Any]:
    return {"__type__": kind, "__value__": value}


class TaggedJSONEncoder(json.JSONEncoder):
    """kombu's encoding of the types Celery's JSON serializer accepts."""

    def default(self, o: Any) -> Any:
        reducer = getattr(o, "__json__", None)
        if callable(reducer):
            return reducer()
        if isinstance(o, datetime):
            return _tagged("datetime", o.isoformat())
        if isinstance(o, date):
            return _tagged("date", o.isoformat())
        if isinstance(o, time):
            return _tagged("time", o.isoformat())
        if isinstance(o, Decimal):
            return _tagged("decimal", str(o))
        if isinstance(o, uuid.UUID):
            return _tagged("uuid", {"hex": o.hex})
        if isinstance(o, bytes):
            try:
                return _tagged("bytes", o.decode("utf-8"))
            except UnicodeDecodeError:
                return _tagged("base64", base64.b64encode(o).decode("ascii"))
        if type(o).__module__.startswith("django.utils.functional"):  # lazy translations
            return str(o)
        return super().default(o)


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": lambda v: datetime.fromisoformat(v).date(),
    "time": time.fromisoformat,
    "decimal": Decimal,
    "uuid": lambda v: uuid.UUID(**v),
    "bytes": lambda v: v.encode("utf-8"),
    "base64": lambda v: base64.b64decode(v.encode("ascii")),
}


def revive(obj: dict[str, Any]) -> Any:
    """``json.loads`` object hook: a tagged value back to its type (unknown tags stay)."""
    if obj.keys() == _TAG and isinstance(obj["__type__"], str):
        decoder = _DECODERS.get(obj["__type__"])
        if decoder is not None:
            try:
                return decoder(obj["__value__"])
            except (TypeError, ValueError, ArithmeticError):
                return obj
    return obj


def dumps(value: Any, encoder: Encoder | None = None) -> str:
    return json.dumps(
        value,
        cls=encoder or TaggedJSONEncoder,
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )


def loads(text: str) -> Any:
    return json.loads(text, object_hook=revive)


def revive_tree(value: Any) -> Any:
    """``revive`` applied to every object of an already-parsed JSON value."""
    if isinstance(value, dict):
        return revive({k: revive_tree(v) for k, v in value.items()})
    if isinstance(value, list):
        return [revive_tree(v) for v in value]
    return value
