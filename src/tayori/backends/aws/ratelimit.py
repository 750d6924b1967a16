"""The rate limiter on AWS: the bucket in one DynamoDB item (see ``backends.ratelimit``)."""

from __future__ import annotations

import random
import time
from typing import Any

from tayori.backends.ratelimit import Decision, _Base, decide
from tayori.errors import RetryLater


class DynamoDBRateLimiter(_Base):
    """The same bucket in one DynamoDB item, for Lambda executions across the fleet.

    Item: ``{pk: "ratelimit#<name>", tokens, updated, version}``. A reservation reads the
    item (strongly consistent), computes with ``decide`` and writes it back with
    ``ConditionExpression: attribute_not_exists(pk) OR version = :v``; a lost race retries
    with jitter. Clocks are the executions' wall clocks (NTP-synced on Lambda).
    """

    def __init__(
        self, client: Any, table: str, rate: float, burst: float = 1.0, name: str = "default"
    ) -> None:
        self.rate, self.burst, self.name = float(rate), float(burst), name
        self._check()
        self.client, self.table = client, table
        self._key = {"pk": {"S": f"ratelimit#{name}"}}

    def _reserve(self, n: float, max_wait: float | None) -> Decision:
        for attempt in range(50):
            item = self.client.get_item(
                TableName=self.table, Key=self._key, ConsistentRead=True
            ).get("Item")
            now = time.time()
            if item:
                tokens, updated = float(item["tokens"]["N"]), float(item["updated"]["N"])
                version = int(item["version"]["N"])
            else:
                tokens, updated, version = self.burst, now, 0
            decision, new = decide(tokens, updated, now, self.rate, self.burst, n, max_wait)
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={
                        **self._key,
                        "tokens": {"N": repr(new)},
                        "updated": {"N": repr(now)},
                        "version": {"N": str(version + 1)},
                    },
                    ConditionExpression="attribute_not_exists(pk) OR version = :v",
                    ExpressionAttributeValues={":v": {"N": str(version)}},
                )
                return decision
            except self.client.exceptions.ConditionalCheckFailedException:
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise RetryLater(1.0, f"rate limit {self.name}: too much contention on the bucket item")
