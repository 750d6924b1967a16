"""The SQS body format.

Version 1 (``shared/DESIGN.md``, read and written unchanged for one-payload sends)::

    {"v": 1, "task", "key", "payload", "sent_at"}

Version 2 adds optional fields for Celery-style calls (issue 11); a message is written
as v2 only when it needs one of them, and v1 messages still parse::

    {"v": 2, "task", "key", "sent_at",
     "payload"?            one-payload send (as v1), or
     "args"?, "kwargs"?    a call: fn(*args, **kwargs), values in kombu's tagged JSON
     "retries"?            retries so far (counted in the message: survives redrive)
     "eta"?                ISO-8601 UTC due time (the handler re-delays until then)
     "expires"?            ISO-8601 UTC; a message received later is dropped, not run
     "headers"?}           the caller's ``apply_async(headers=...)``

An old consumer refuses a v2 message (``UnsupportedVersion``: dead-lettered with the
reason) instead of calling the task with the wrong arguments.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tayori.errors import InvalidParameterValue, MalformedMessage, UnsupportedVersion
from tayori.wire import jsonvalue

VERSION = 1
VERSION_CALL = 2
VERSIONS = (VERSION, VERSION_CALL)
_FIELDS = {"v", "task", "key", "payload", "sent_at"}
_CALL_FIELDS = ("args", "kwargs", "retries", "eta", "expires", "headers")


def utc_iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z`` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO-8601 time as an aware UTC datetime (naive is taken as UTC)."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Envelope:
    task: str
    payload: Any
    key: str | None
    sent_at: str
    v: int = VERSION
    args: tuple[Any, ...] | None = None
    kwargs: dict[str, Any] | None = None
    retries: int = 0
    eta: str | None = None
    expires: str | None = None
    headers: dict[str, Any] | None = None
    # not on the wire: what a foreign codec needs to write the message back (Celery's
    # headers and properties), and what the consumer knows about this delivery
    extra: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    delivery: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def new(cls, task: str, payload: Any, key: str | None = None) -> Envelope:
        """A fresh logical send: the key is made ONCE here and kept across retries and redrive."""
        return cls(task=task, payload=payload, key=_key(key), sent_at=_now())

    @classmethod
    def call(
        cls,
        task: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        key: str | None = None,
        *,
        eta: datetime | None = None,
        expires: datetime | None = None,
        headers: dict[str, Any] | None = None,
    ) -> Envelope:
        """A fresh Celery-style call ``task(*args, **kwargs)``; ``key`` is Celery's task id."""
        return cls(
            task=task,
            payload=None,
            key=_key(key),
            sent_at=_now(),
            v=VERSION_CALL,
            args=tuple(args),
            kwargs=dict(kwargs),
            eta=None if eta is None else utc_iso(eta),
            expires=None if expires is None else utc_iso(expires),
            headers=dict(headers) if headers else None,
        )

    @property
    def is_call(self) -> bool:
        return self.args is not None or self.kwargs is not None

    @property
    def eta_at(self) -> datetime | None:
        return None if self.eta is None else parse_time(self.eta)

    @property
    def expires_at(self) -> datetime | None:
        return None if self.expires is None else parse_time(self.expires)

    def to_dict(self) -> dict[str, Any]:
        if (  # a plain send (most messages): v1, the five fields
            self.args is None
            and self.kwargs is None
            and not self.retries
            and self.eta is None
            and self.expires is None
            and self.headers is None
        ):
            return {
                "v": VERSION,
                "task": self.task,
                "key": self.key,
                "payload": self.payload,
                "sent_at": self.sent_at,
            }
        data: dict[str, Any] = {"v": self.v, "task": self.task, "key": self.key}
        extras = {
            "args": None if self.args is None else list(self.args),
            "kwargs": self.kwargs,
            "retries": self.retries or None,
            "eta": self.eta,
            "expires": self.expires,
            "headers": self.headers,
        }
        extras = {k: v for k, v in extras.items() if v is not None}
        if not self.is_call:
            data["payload"] = self.payload
        data["sent_at"] = self.sent_at
        if extras:
            data["v"] = VERSION_CALL
            data.update(extras)
        else:
            data["v"] = VERSION
        return data

    def to_json(self, encoder: jsonvalue.Encoder | None = None) -> str:
        data = self.to_dict()
        try:
            if data["v"] == VERSION:
                return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            return jsonvalue.dumps(data, encoder)
        except (TypeError, ValueError) as exc:
            what = "arguments" if self.is_call else "payload"
            raise InvalidParameterValue(
                f"{what} for task {self.task!r} is not JSON-serialisable: {exc}"
            ) from None

    @classmethod
    def parse(cls, body: str) -> Envelope:
        """Parse a received body; every problem is a one-line ``BadMessage``."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise MalformedMessage(f"body is not JSON: {str(exc)[:120]}") from None
        if not isinstance(data, dict):
            raise MalformedMessage(f"body is JSON {type(data).__name__}, not a tayori envelope")
        version = data.get("v")
        if "v" in data and (not isinstance(version, int) or isinstance(version, bool)):
            raise MalformedMessage(f"envelope version must be an integer, got {version!r:.40}")
        if version == VERSION_CALL:
            return cls._parse_call(data)
        missing = {"v", "task", "payload"} - data.keys()
        if missing:
            raise MalformedMessage(f"envelope lacks {', '.join(sorted(missing))}")
        if version != VERSION:
            raise UnsupportedVersion(f"envelope version {version} is not supported (want 1 or 2)")
        task, key, sent_at = _common(data)
        return cls(task=task, payload=data["payload"], key=key, sent_at=sent_at, v=version)

    @classmethod
    def _parse_call(cls, data: dict[str, Any]) -> Envelope:
        if "task" not in data:
            raise MalformedMessage("envelope lacks task")
        task, key, sent_at = _common(data)
        args, kwargs = data.get("args"), data.get("kwargs")
        if args is None and kwargs is None and "payload" not in data:
            raise MalformedMessage("envelope v2 needs payload, or args / kwargs")
        if args is not None and not isinstance(args, list):
            raise MalformedMessage("envelope args must be a list")
        if kwargs is not None and not (
            isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs)
        ):
            raise MalformedMessage("envelope kwargs must be an object")
        retries = data.get("retries", 0)
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise MalformedMessage("envelope retries must be a non-negative integer")
        for name in ("eta", "expires"):
            _check_time(data.get(name), name)
        headers = data.get("headers")
        if headers is not None and not isinstance(headers, dict):
            raise MalformedMessage("envelope headers must be an object")
        is_call = args is not None or kwargs is not None
        return cls(
            task=task,
            payload=None if is_call else data.get("payload"),
            key=key,
            sent_at=sent_at,
            v=VERSION_CALL,
            args=None if not is_call else tuple(jsonvalue.revive_tree(args or [])),
            kwargs=None if not is_call else jsonvalue.revive_tree(kwargs or {}),
            retries=retries,
            eta=data.get("eta"),
            expires=data.get("expires"),
            headers=headers,
        )


def _common(data: dict[str, Any]) -> tuple[str, str | None, str]:
    task, key, sent_at = data["task"], data.get("key"), data.get("sent_at", "")
    if not isinstance(task, str) or not task:
        raise MalformedMessage("envelope task must be a non-empty string")
    if key is not None and not isinstance(key, str):
        raise MalformedMessage("envelope key must be a string or null")
    if not isinstance(sent_at, str):
        raise MalformedMessage("envelope sent_at must be an ISO-8601 string")
    return task, key, sent_at


def _check_time(value: Any, name: str) -> None:
    if value is None:
        return
    try:
        parse_time(value)
    except (TypeError, ValueError):
        raise MalformedMessage(f"envelope {name} must be an ISO-8601 time") from None


def _key(key: str | None) -> str:
    return key if key is not None else str(uuid.uuid4())


def _now() -> str:
    return utc_iso(datetime.now(UTC))
