"""Idempotency records in DynamoDB: Powertools' own layer, unchanged.

Only the wiring lives here (share one boto3 client, a NEW layer per call because
Powertools keeps the first configuration per instance) plus a table helper for
tests and the CLI.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

EXPIRY_ATTRIBUTE = "expiration"


def persistence_layer(client: Any, table: str) -> DynamoDBPersistenceLayer:
    """Powertools' ``DynamoDBPersistenceLayer`` on the backend's shared client."""
    return DynamoDBPersistenceLayer(table_name=table, boto3_client=client)


def create_idempotency_table(client: Any, table: str) -> None:
    """The table Powertools expects: hash key ``id`` (S), on demand, TTL on ``expiration``."""
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    client.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRY_ATTRIBUTE},
    )
