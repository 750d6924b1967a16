"""The embedded rate limiter: the bucket is a row in ``<dir>/ratelimit.db``, shared by the
threads and processes of one machine (see ``backends.ratelimit``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tayori.backends.ratelimit import Decision, _Base, decide
from tayori.backends.sqlite.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated REAL NOT NULL,
    granted INTEGER NOT NULL DEFAULT 1
)
"""

# The reservation as ONE statement (``decide`` in SQL): an autocommit upsert that the
# store group-commits with the other threads' reservations, instead of a BEGIN IMMEDIATE
# read-modify-write holding the file's write lock across four calls. ``granted`` is the
# decision, kept on the row so that RETURNING can report it. The insert branch (no row
# yet) is decided in Python: :tokens / :granted are its tokens and decision. ``updated``
# never moves back: statements of one group commit run in queue order, not in the order
# their callers read the clock, and time counted twice would be tokens handed out twice.
_LEVEL = "MIN(:burst, buckets.tokens + MAX(0.0, :now - buckets.updated) * :rate)"
_GRANTED = f"(:max_wait IS NULL OR MAX(0.0, -({_LEVEL} - :n) / :rate) <= :max_wait)"
_RESERVE = f"""
INSERT INTO buckets (name, tokens, updated, granted) VALUES (:name, :tokens, :now, :granted)
ON CONFLICT (name) DO UPDATE SET
    tokens = CASE WHEN {_GRANTED} THEN {_LEVEL} - :n ELSE {_LEVEL} END,
    granted = {_GRANTED},
    updated = MAX(buckets.updated, :now)
RETURNING tokens, granted, updated
"""


class SqliteRateLimiter(_Base):
    """Threads and processes of one machine; the bucket is a row in ``<dir>/ratelimit.db``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        rate: float,
        burst: float = 1.0,
        name: str = "default",
    ) -> None:
        self.rate, self.burst, self.name = float(rate), float(burst), name
        self._check()
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._db = Database(str(Path(directory) / "ratelimit.db"), SCHEMA)
        with self._db.write() as conn:  # a bucket made by an older tayori lacks `granted`
            columns = {row[1] for row in conn.execute("PRAGMA table_info(buckets)")}
            if "granted" not in columns:
                conn.execute("ALTER TABLE buckets ADD COLUMN granted INTEGER NOT NULL DEFAULT 1")

    def _reserve(self, n: float, max_wait: float | None) -> Decision:
        now = time.time()
        first, first_tokens = decide(self.burst, now, now, self.rate, self.burst, n, max_wait)
        rows = self._db.execute_returning(
            _RESERVE,
            {
                "n": n,
                "burst": self.burst,
                "now": now,
                "rate": self.rate,
                "max_wait": max_wait,
                "tokens": first_tokens,
                "granted": first.granted,
                "name": self.name,
            },
        )
        tokens, granted, updated = rows[0]
        # The slot counts from the row's clock (``updated``, which a later reading by
        # another caller may have moved past ours), and the wait from now, after the
        # commit: sleeping the raw wait from a stale clock would send too early or late.
        if granted:  # tokens is what is left after taking n: negative means wait
            slot = updated + max(0.0, -tokens / self.rate)
            return Decision(True, max(0.0, slot - time.time()), tokens)
        return Decision(False, max(0.0, -(tokens - n) / self.rate), tokens)

    def close(self) -> None:
        self._db.close()
