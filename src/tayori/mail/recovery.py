"""Broadcast recovery: list the recipients whose send failed, and re-send exactly those.

Why re-sending is safe with the same idempotency key (``<broadcast>:<recipient>``):
a send that failed raised inside its idempotency guard, and Powertools deletes the
in-progress record of a call that raised, so the key is free again and the new
message runs. A recipient already sent is never sent again: ``retry_failed`` only
picks rows whose outcome is ``failed``, the send task skips a recipient whose outcome
is ``sent`` before it renders anything, and two copies of a retry racing each other
meet the same idempotency lock (one runs, the other is a duplicate).

The recipients' per-person variables come from what ``Mailer.broadcast`` kept (the
spec: inline recipients or the chunk keys); recipients that failed before any send
was queued (an invalid address) are reported as skipped, not re-sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from tayori.errors import ConfigError, NoSuchBroadcast
from tayori.mail.message import InvalidMessage, address_of, check_address
from tayori.mail.spec import BroadcastSpec, read_spec


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    recipient: str
    reason: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RetryResult:
    broadcast_id: str
    queued: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (recipient, why)

    def to_dict(self) -> dict[str, Any]:
        return {
            "broadcast_id": self.broadcast_id,
            "queued": len(self.queued),
            "recipients": self.queued,
            "skipped": [{"recipient": r, "why": why} for r, why in self.skipped],
        }


def failed_recipients(store: Any, broadcast_id: str) -> list[FailedRecipient]:
    """Every recipient of ``broadcast_id`` whose outcome is failed, with the reason."""
    if store.status(broadcast_id) is None:
        raise NoSuchBroadcast(f"no broadcast {broadcast_id!r} in the mail store")
    return [FailedRecipient(r, reason, at) for r, reason, at in store.failures(broadcast_id)]


def retry_failed(mailer: Any, broadcast_id: str) -> RetryResult:
    """Queue one send per failed recipient of ``broadcast_id`` (same key, same content)."""
    failed = {f.recipient: f for f in failed_recipients(mailer.store, broadcast_id)}
    result = RetryResult(broadcast_id)
    if not failed:
        return result
    blobs = mailer.app.backend.blob_store(mailer.app.settings.bucket)
    spec = read_spec(blobs, broadcast_id)
    if spec is None:
        raise ConfigError(
            f"broadcast {broadcast_id!r} kept no record of its recipients (sent by an older "
            "tayori); send it again with the same --broadcast-id and recipients file"
        )
    base: dict[str, Any] = {"bid": broadcast_id, "template": spec.template}
    base["context"] = spec.context
    if spec.sender is not None:
        base["sender"] = spec.sender
    sends = []
    for r in _recipients(spec, blobs):
        email = r.get("email", "")
        addr = address_of(email) or email
        if addr not in failed or addr in result.queued:
            continue
        try:
            check_address(email)
        except InvalidMessage as exc:
            result.skipped.append((addr, f"invalid address: {exc}"))
            failed.pop(addr)
            continue
        variables = {k: v for k, v in r.items() if k != "email"}
        sends.append({**base, "id": f"{broadcast_id}:{addr}", "to": email, "vars": variables})
        result.queued.append(addr)
        failed.pop(addr)
    for addr in sorted(failed):
        result.skipped.append((addr, "not in the broadcast's recipient list"))
    if sends:
        mailer.deliver.send_many(sends)
    return result


def _recipients(spec: BroadcastSpec, blobs: Any) -> Iterator[dict[str, Any]]:
    if spec.recipients is not None:
        yield from spec.recipients
    for key in spec.chunks or []:
        for line in blobs.get(key).decode("utf-8").splitlines():
            if line.strip():
                yield json.loads(line)
