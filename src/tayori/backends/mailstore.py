"""The mail store each backend provides (``backend.mail_store()``): the suppression list
and per-broadcast, per-recipient outcomes.

Outcomes are one row per (broadcast, recipient), written with an upsert that never
downgrades ``sent``; counts are derived from the rows, so a duplicate delivery or a
retried task can never count a recipient twice. Embedded: ``backends/sqlite/mail.py``
(``<dir>/mail.db``); AWS: ``backends/aws/mail.py`` (one DynamoDB table). One contract
suite runs on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

SENT, FAILED, SUPPRESSED = "sent", "failed", "suppressed"


@dataclass(frozen=True, slots=True)
class BroadcastStatus:
    id: str
    template: str
    total: int | None
    sent: int
    failed: int
    suppressed: int
    created_at: float

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.suppressed

    @property
    def pending(self) -> int | None:
        return None if self.total is None else max(0, self.total - self.done)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "template": self.template,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "suppressed": self.suppressed,
            "pending": self.pending,
        }


class MailStore(Protocol):
    def suppression_reason(self, address: str) -> str | None: ...
    def suppress(self, address: str, reason: str) -> None: ...
    def unsuppress(self, address: str) -> None: ...
    def start_broadcast(self, broadcast_id: str, template: str) -> None: ...
    def set_total(self, broadcast_id: str, total: int) -> None: ...
    def record(self, broadcast_id: str, recipient: str, status: str, detail: str = "") -> None: ...
    def outcome(self, broadcast_id: str, recipient: str) -> str | None: ...
    def status(self, broadcast_id: str) -> BroadcastStatus | None: ...
    def broadcasts(self, limit: int = 20) -> list[BroadcastStatus]: ...
