"""What a broadcast was sent with, kept beside its recipient chunks in the blob store.

``tayori/broadcasts/<id>/spec.json`` holds the template, context and sender and their
fingerprint, so that a second ``send`` with the same id and other content is refused
(its sends would mix two messages under one id; the idempotency keys would make the
new content silently lose to the old). It is written once, by the first ``broadcast``
with that id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from tayori.errors import BlobNotFound

SPEC_PREFIX = "tayori/broadcasts"


@dataclass(frozen=True, slots=True)
class BroadcastSpec:
    template: str
    context: dict[str, Any]
    sender: str | None = None

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(
            [self.template, self.context, self.sender], sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def differences(self, other: BroadcastSpec) -> list[str]:
        """What ``other`` changes, for the refusal message (values are not echoed)."""
        out = []
        if self.template != other.template:
            out.append(f"template {self.template!r}, not {other.template!r}")
        if self.context != other.context:
            out.append("another --context")
        if self.sender != other.sender:
            out.append("another --sender")
        return out


def spec_key(broadcast_id: str) -> str:
    return f"{SPEC_PREFIX}/{broadcast_id}/spec.json"


def write_spec(blobs: Any, broadcast_id: str, spec: BroadcastSpec) -> None:
    data = {
        "template": spec.template,
        "context": spec.context,
        "sender": spec.sender,
        "fingerprint": spec.fingerprint,
    }
    blobs.put(spec_key(broadcast_id), json.dumps(data, ensure_ascii=False).encode("utf-8"))


def read_spec(blobs: Any, broadcast_id: str) -> BroadcastSpec | None:
    try:
        raw = blobs.get(spec_key(broadcast_id))
    except BlobNotFound:
        return None
    data = json.loads(raw.decode("utf-8"))
    return BroadcastSpec(data["template"], data.get("context") or {}, data.get("sender"))
