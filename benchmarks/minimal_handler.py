"""The seed's own minimal handler: Powertools BatchProcessor + idempotent_function +
DynamoDBPersistenceLayer, nothing else (the cold-start baseline for tayori's)."""

from __future__ import annotations

import os

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("TABLE", "tayori-idempotency"))
config = IdempotencyConfig(event_key_jmespath="id")
processor = BatchProcessor(event_type=EventType.SQS)


@idempotent_function(data_keyword_argument="payload", persistence_store=persistence, config=config)
def send_one(payload: dict) -> None:
    return None


def record_handler(record: object) -> None:
    import json

    send_one(payload=json.loads(record.body))  # type: ignore[attr-defined]


def handler(event: dict, context: object) -> dict:
    return process_partial_response(event, record_handler, processor, context)
