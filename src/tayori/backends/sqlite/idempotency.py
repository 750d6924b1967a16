"""A Powertools idempotency persistence layer in SQLite.

The lock is ONE statement, the same condition as the DynamoDB layer's conditional
put: insert when absent, or when expired, or when in progress and the in-progress
expiry has passed.
"""

from __future__ import annotations

import time

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    STATUS_CONSTANTS,
    DataRecord,
)

from tayori.backends.sqlite.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    id TEXT PRIMARY KEY,
    expiration INTEGER NOT NULL,
    in_progress_expiration INTEGER,
    status TEXT NOT NULL,
    data TEXT,
    validation TEXT
) WITHOUT ROWID
"""
# WITHOUT ROWID: the key IS the b-tree, so a lock or completion writes one b-tree page,
# not a table page plus an index page (a store made by an older tayori keeps its table).

_PUT = """
INSERT INTO idempotency (id, expiration, in_progress_expiration, status, data, validation)
VALUES (?, ?, ?, ?, NULL, ?)
ON CONFLICT (id) DO UPDATE SET
    expiration = excluded.expiration,
    in_progress_expiration = excluded.in_progress_expiration,
    status = excluded.status,
    data = NULL,
    validation = excluded.validation
WHERE idempotency.expiration < ?
   OR (idempotency.status = ?
       AND idempotency.in_progress_expiration IS NOT NULL
       AND idempotency.in_progress_expiration < ?)
"""


_INPROGRESS = STATUS_CONSTANTS["INPROGRESS"]


class SqlitePersistenceLayer(BasePersistenceLayer):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

    def _get_record(self, idempotency_key: str) -> DataRecord:
        row = self._db.query_one(
            "SELECT id, status, expiration, in_progress_expiration, data, validation "
            "FROM idempotency WHERE id = ?",
            (idempotency_key,),
        )
        if row is None:
            raise IdempotencyItemNotFoundError
        return _to_record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now = time.time()
        # the lock is this ONE statement (insert, or take over an expired record)
        taken = self._db.execute(
            _PUT,
            (
                data_record.idempotency_key,
                data_record.expiry_timestamp,
                data_record.in_progress_expiry_timestamp,
                data_record.status,
                data_record.payload_hash if self.payload_validation_enabled else None,
                int(now),
                _INPROGRESS,
                int(now * 1000),
            ),
        )
        if taken == 1:
            return
        row = self._db.query_one(
            "SELECT id, status, expiration, in_progress_expiration, data, validation "
            "FROM idempotency WHERE id = ?",
            (data_record.idempotency_key,),
        )
        raise IdempotencyItemAlreadyExistsError(
            f"idempotency key {data_record.idempotency_key} is already taken",
            old_data_record=_to_record(row) if row else None,
        )

    def _update_record(self, data_record: DataRecord) -> None:
        self._db.execute(
            "UPDATE idempotency SET data = ?, expiration = ?, status = ?,"
            " validation = COALESCE(?, validation) WHERE id = ?",
            (
                data_record.response_data,
                data_record.expiry_timestamp,
                data_record.status,
                data_record.payload_hash if self.payload_validation_enabled else None,
                data_record.idempotency_key,
            ),
        )

    def _delete_record(self, data_record: DataRecord) -> None:
        self._db.execute("DELETE FROM idempotency WHERE id = ?", (data_record.idempotency_key,))


def _to_record(row: tuple) -> DataRecord:
    key, status, expiration, in_progress, data, validation = row
    return DataRecord(
        idempotency_key=key,
        status=status,
        expiry_timestamp=expiration,
        in_progress_expiry_timestamp=in_progress,
        response_data=data or "",
        payload_hash=validation or "",
    )
