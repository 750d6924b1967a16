"""Mail state: the suppression list and per-broadcast, per-recipient outcomes.

Outcomes are one row per (broadcast, recipient), written with an upsert that never
downgrades ``sent``; counts are derived from the rows, so a duplicate delivery or a
retried task can never count a recipient twice. Embedded: ``<dir>/mail.db``. On AWS:
``store_dynamodb.DynamoDBMailStore`` (one table; same contract, tested with one suite).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tayori.backends.sqlite.db import Database

SENT, FAILED, SUPPRESSED = "sent", "failed", "suppressed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS suppression (
    address TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS broadcasts (
    id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    total INTEGER,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outcomes (
    broadcast_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL,
    PRIMARY KEY (broadcast_id, recipient)
) WITHOUT ROWID
"""
# WITHOUT ROWID: an outcome write touches one b-tree (the key), not a table and an index;
# a store made by an older tayori keeps its table as it was.


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


class SqliteMailStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._db = Database(str(Path(directory) / "mail.db"), SCHEMA)

    # suppression ---------------------------------------------------------------
    def suppression_reason(self, address: str) -> str | None:
        row = (
            self._db.read()
            .execute("SELECT reason FROM suppression WHERE address = ?", (address.lower(),))
            .fetchone()
        )
        return row[0] if row else None

    def suppress(self, address: str, reason: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO suppression (address, reason, at) VALUES (?, ?, ?) "
                "ON CONFLICT (address) DO NOTHING",
                (address.lower(), reason, time.time()),
            )

    def unsuppress(self, address: str) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM suppression WHERE address = ?", (address.lower(),))

    def suppressed(self) -> list[tuple[str, str]]:
        return list(
            self._db.read().execute("SELECT address, reason FROM suppression ORDER BY address")
        )

    # broadcasts ----------------------------------------------------------------
    def start_broadcast(self, broadcast_id: str, template: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO broadcasts (id, template, total, created_at) VALUES (?, ?, NULL, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (broadcast_id, template, time.time()),
            )

    def set_total(self, broadcast_id: str, total: int) -> None:
        with self._db.write() as conn:
            conn.execute("UPDATE broadcasts SET total = ? WHERE id = ?", (total, broadcast_id))

    def record(self, broadcast_id: str, recipient: str, status: str, detail: str = "") -> None:
        # one autocommit statement: on the per-email hot path
        self._db.execute(
            "INSERT INTO outcomes (broadcast_id, recipient, status, detail, at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (broadcast_id, recipient) DO UPDATE SET "
            "status = excluded.status, detail = excluded.detail, at = excluded.at "
            "WHERE outcomes.status != 'sent'",
            (broadcast_id, recipient, status, detail[:500], time.time()),
        )

    def delivery_state(self, broadcast_id: str, recipient: str) -> tuple[str | None, str | None]:
        """(outcome, suppression reason) in ONE read: a send checks both before sending."""
        row = self._db.query_one(
            "SELECT (SELECT status FROM outcomes WHERE broadcast_id = ?1 AND recipient = ?2),"
            " (SELECT reason FROM suppression WHERE address = ?3)",
            (broadcast_id, recipient, recipient.lower()),
        )
        return (row[0], row[1]) if row else (None, None)

    def outcome(self, broadcast_id: str, recipient: str) -> str | None:
        row = self._db.query_one(
            "SELECT status FROM outcomes WHERE broadcast_id = ? AND recipient = ?",
            (broadcast_id, recipient),
        )
        return row[0] if row else None

    def status(self, broadcast_id: str) -> BroadcastStatus | None:
        conn = self._db.read()
        row = conn.execute(
            "SELECT id, template, total, created_at FROM broadcasts WHERE id = ?", (broadcast_id,)
        ).fetchone()
        if row is None:
            return None
        counts = dict(
            conn.execute(
                "SELECT status, COUNT(*) FROM outcomes WHERE broadcast_id = ? GROUP BY status",
                (broadcast_id,),
            ).fetchall()
        )
        return BroadcastStatus(
            id=row[0],
            template=row[1],
            total=row[2],
            sent=counts.get(SENT, 0),
            failed=counts.get(FAILED, 0),
            suppressed=counts.get(SUPPRESSED, 0),
            created_at=row[3],
        )

    def broadcasts(self, limit: int = 20) -> list[BroadcastStatus]:
        ids = (
            self._db.read()
            .execute("SELECT id FROM broadcasts ORDER BY created_at DESC LIMIT ?", (limit,))
            .fetchall()
        )
        return [s for (i,) in ids if (s := self.status(i)) is not None]

    def close(self) -> None:
        self._db.close()
