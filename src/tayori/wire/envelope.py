"""The SQS body format: ``{"v": 1, "task", "key", "payload", "sent_at"}``."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tayori.errors import InvalidParameterValue, MalformedMessage, UnsupportedVersion

VERSION = 1
_FIELDS = {"v", "task", "key", "payload", "sent_at"}


@dataclass(frozen=True, slots=True)
class Envelope:
    task: str
    payload: Any
    key: str | None
    sent_at: str
    v: int = VERSION

    @classmethod
    def new(cls, task: str, payload: Any, key: str | None = None) -> Envelope:
        """A fresh logical send: the key is made ONCE here and kept across retries and redrive."""
        return cls(
            task=task,
            payload=payload,
            key=key if key is not None else str(uuid.uuid4()),
            sent_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )

    def to_json(self) -> str:
        try:
            return json.dumps(
                {
                    "v": self.v,
                    "task": self.task,
                    "key": self.key,
                    "payload": self.payload,
                    "sent_at": self.sent_at,
                },
                ensure_ascii=False,
                separators=(",", ":"),
                allow_nan=False,
            )
        except (TypeError, ValueError) as exc:
            raise InvalidParameterValue(
                f"payload for task {self.task!r} is not JSON-serialisable: {exc}"
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
        missing = {"v", "task", "payload"} - data.keys()
        if missing:
            raise MalformedMessage(f"envelope lacks {', '.join(sorted(missing))}")
        version = data["v"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise MalformedMessage(f"envelope version must be an integer, got {version!r:.40}")
        if version != VERSION:
            raise UnsupportedVersion(f"envelope version {version} is not supported (want 1)")
        task, key, sent_at = data["task"], data.get("key"), data.get("sent_at", "")
        if not isinstance(task, str) or not task:
            raise MalformedMessage("envelope task must be a non-empty string")
        if key is not None and not isinstance(key, str):
            raise MalformedMessage("envelope key must be a string or null")
        if not isinstance(sent_at, str):
            raise MalformedMessage("envelope sent_at must be an ISO-8601 string")
        return cls(task=task, payload=data["payload"], key=key, sent_at=sent_at, v=version)
