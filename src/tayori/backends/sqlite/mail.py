"""The embedded mail store: ``<dir>/mail.db`` (see ``backends.mailstore``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tayori.backends.mailstore import FAILED, SENT, SUPPRESSED, BroadcastStatus
from tayori.backends.sqlite.db import Database

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
            "SELECT (SELECT status FROM outcomes WHERE broadcast_id = ? AND recipient = ?),"
            " (SELECT reason FROM suppression WHERE address = ?)",
            (broadcast_id, recipient, recipient.lower()),
        )
        return (row[0], row[1]) if row else (None, None)

    def failed(self, broadcast_id: str, limit: int = 1000) -> list[tuple[str, str, float]]:
        """``(recipient, reason, at)`` of up to ``limit`` failed recipients, oldest first."""
        rows = (
            self._db.read()
            .execute(
                "SELECT recipient, detail, at FROM outcomes WHERE broadcast_id = ? AND status = ?"
                " ORDER BY at, recipient LIMIT ?",
                (broadcast_id, FAILED, limit),
            )
            .fetchall()
        )
        return [(r[0], r[1], float(r[2])) for r in rows]

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
