"""The mail store on DynamoDB: one table, hash key ``pk`` only (shareable with the
``DynamoDBRateLimiter``'s bucket items).

Items::

    suppress#<address>               reason, at
    broadcast#<bid>                  template, total, created_at, list="broadcasts"
    count#<bid>#<shard>              sent, failed, suppressed     (counter shards)
    outcome#<bid>#<recipient>        status, detail, at, shard

Counts are kept, not derived: reading them back must stay O(1) for a million-recipient
broadcast. They stay exact under retries and duplicate deliveries because every status
change of an outcome is ONE ``TransactWriteItems``: the outcome write is conditional on the
status it replaces (absent, or the old status read back), and the same transaction ADDs +1
to the new status and -1 to the old on the recipient's counter shard. A repeated record of
the same status changes no counter; ``sent`` is never replaced; a lost race re-reads and
tries again. Counters are spread over ``shards`` items so concurrent executions rarely hit
one item (``TransactionConflict``); ``status`` reads the header and shards in one
``BatchGetItem``. ``broadcasts()`` queries the sparse, keys-only GSI ``broadcasts``.
"""

from __future__ import annotations

import random
import time
import zlib
from typing import Any

from tayori.backends.mailstore import FAILED, SENT, SUPPRESSED, BroadcastStatus
from tayori.errors import ConfigError, RetryLater

STATUSES = (SENT, FAILED, SUPPRESSED)
LIST_INDEX = "broadcasts"
MAX_ATTEMPTS = 20
MAX_FAILED_SCAN_PAGES = 100
# cancellation reasons that mean "try the same transaction again shortly"
TRANSIENT = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def mail_table_name(idempotency_table: str) -> str:
    """The mail table beside the idempotency table: ``X-idempotency`` -> ``X-mail``,
    any other name -> ``<name>-mail`` (so one setting names both tables)."""
    base = idempotency_table.removesuffix("-idempotency")
    return f"{base}-mail"


def create_mail_table(client: Any, table: str) -> None:
    """Create the table (moto, tests, first-time setups); an existing table is kept."""
    try:
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "list", "AttributeType": "S"},
                {"AttributeName": "created_at", "AttributeType": "N"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": LIST_INDEX,
                    "KeySchema": [
                        {"AttributeName": "list", "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


class DynamoDBMailStore:
    """``MailStore`` on one DynamoDB table, for Lambda executions across the fleet."""

    def __init__(self, client: Any, table: str, *, shards: int = 8) -> None:
        if not 1 <= shards <= 99:
            raise ConfigError("shards must be 1-99 (status reads them in one BatchGetItem)")
        self.client, self.table, self.shards = client, table, shards

    # suppression ---------------------------------------------------------------
    def suppression_reason(self, address: str) -> str | None:
        item = self._get(f"suppress#{address.lower()}")
        return item["reason"]["S"] if item else None

    def suppress(self, address: str, reason: str) -> None:
        # first reason wins, like the embedded store's ON CONFLICT DO NOTHING
        self._put_new(
            {"pk": _s(f"suppress#{address.lower()}"), "reason": _s(reason), "at": _n(time.time())}
        )

    def unsuppress(self, address: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"pk": _s(f"suppress#{address.lower()}")})

    # broadcasts ----------------------------------------------------------------
    def start_broadcast(self, broadcast_id: str, template: str) -> None:
        self._put_new(
            {
                "pk": _s(f"broadcast#{broadcast_id}"),
                "template": _s(template),
                "created_at": _n(time.time()),
                "list": _s(LIST_INDEX),
            }
        )

    def set_total(self, broadcast_id: str, total: int) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": _s(f"broadcast#{broadcast_id}")},
                UpdateExpression="SET #t = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#t": "total"},
                ExpressionAttributeValues={":t": _n(total)},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            pass  # no such broadcast: nothing to update (as the embedded store)

    def record(self, broadcast_id: str, recipient: str, status: str, detail: str = "") -> None:
        if status not in STATUSES:
            raise ConfigError(f"unknown outcome status {status!r}")
        key = _s(f"outcome#{broadcast_id}#{recipient}")
        shard = zlib.crc32(recipient.encode("utf-8")) % self.shards
        fields = {":s": _s(status), ":d": _s(detail[:500]), ":at": _n(time.time())}
        old: str | None = None  # first guess: a recipient's first outcome (the common case)
        for attempt in range(MAX_ATTEMPTS):
            if old == SENT:
                return  # never downgraded, and sent -> sent changes nothing that is counted
            if old == status:
                self._refresh(key, fields)
                return
            if old is None:
                write: dict[str, Any] = {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            "pk": key,
                            "status": fields[":s"],
                            "detail": fields[":d"],
                            "at": fields[":at"],
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            else:
                write = {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": key},
                        "UpdateExpression": "SET #s = :s, detail = :d, #at = :at",
                        "ConditionExpression": "#s = :old",
                        "ExpressionAttributeNames": {"#s": "status", "#at": "at"},
                        "ExpressionAttributeValues": {**fields, ":old": _s(old)},
                    }
                }
            write[next(iter(write))]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            count = self._count_update(broadcast_id, shard, status, old)
            try:
                self.client.transact_write_items(TransactItems=[write, count])
                return
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or [{}]
                first = reasons[0]
                if first.get("Code") == "ConditionalCheckFailed":
                    item = first.get("Item") or self._get(key["S"])
                    old = item["status"]["S"] if item else None
                    continue
                if not any(r.get("Code") in TRANSIENT for r in reasons):
                    raise
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise RetryLater(1.0, f"outcome of {recipient} in {broadcast_id}: too much contention")

    def failed(self, broadcast_id: str, limit: int = 1000) -> list[tuple[str, str, float]]:
        """``(recipient, reason, at)`` of up to ``limit`` failed recipients, oldest first.
        Outcome items have no index by broadcast: a filtered scan, paged and capped."""
        prefix = f"outcome#{broadcast_id}#"
        found: list[tuple[str, str, float]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :p) AND #s = :f",
            "ExpressionAttributeNames": {"#s": "status", "#at": "at"},
            "ExpressionAttributeValues": {":p": {"S": prefix}, ":f": {"S": FAILED}},
            "ProjectionExpression": "pk, detail, #at",
        }
        for _ in range(MAX_FAILED_SCAN_PAGES):
            resp = self.client.scan(**kwargs)
            for item in resp.get("Items", []):
                found.append(
                    (
                        item["pk"]["S"].removeprefix(prefix),
                        item.get("detail", {}).get("S", ""),
                        float(item.get("at", {}).get("N", "0")),
                    )
                )
            start = resp.get("LastEvaluatedKey")
            if not start or len(found) >= limit:
                break
            kwargs["ExclusiveStartKey"] = start
        found.sort(key=lambda f: (f[2], f[0]))
        return found[:limit]

    def outcome(self, broadcast_id: str, recipient: str) -> str | None:
        item = self._get(f"outcome#{broadcast_id}#{recipient}")
        return item["status"]["S"] if item else None

    def status(self, broadcast_id: str) -> BroadcastStatus | None:
        keys = [f"broadcast#{broadcast_id}"] + [
            f"count#{broadcast_id}#{i}" for i in range(self.shards)
        ]
        items = {i["pk"]["S"]: i for i in self._batch_get(keys)}
        head = items.pop(keys[0], None)
        if head is None:
            return None
        counts = dict.fromkeys(STATUSES, 0)
        for item in items.values():
            for name in STATUSES:
                if name in item:
                    counts[name] += int(item[name]["N"])
        return BroadcastStatus(
            id=broadcast_id,
            template=head["template"]["S"],
            total=int(head["total"]["N"]) if "total" in head else None,
            sent=counts[SENT],
            failed=counts[FAILED],
            suppressed=counts[SUPPRESSED],
            created_at=float(head["created_at"]["N"]),
        )

    def broadcasts(self, limit: int = 20) -> list[BroadcastStatus]:
        if limit <= 0:
            return []
        resp = self.client.query(
            TableName=self.table,
            IndexName=LIST_INDEX,
            KeyConditionExpression="#l = :l",
            ExpressionAttributeNames={"#l": "list"},
            ExpressionAttributeValues={":l": _s(LIST_INDEX)},
            ScanIndexForward=False,
            Limit=limit,
        )
        ids = [i["pk"]["S"].removeprefix("broadcast#") for i in resp.get("Items", [])]
        return [s for i in ids if (s := self.status(i)) is not None]

    def close(self) -> None:
        """The client belongs to the backend; nothing to release here."""

    # helpers -------------------------------------------------------------------
    def _get(self, pk: str) -> dict[str, Any] | None:
        return self.client.get_item(
            TableName=self.table, Key={"pk": _s(pk)}, ConsistentRead=True
        ).get("Item")

    def _put_new(self, item: dict[str, Any]) -> None:
        try:
            self.client.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            pass

    def _refresh(self, key: dict[str, str], fields: dict[str, Any]) -> None:
        """Same status again: newer detail and time, no counter (a lost race is harmless)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": key},
                UpdateExpression="SET detail = :d, #at = :at",
                ConditionExpression="#s = :s",
                ExpressionAttributeNames={"#s": "status", "#at": "at"},
                ExpressionAttributeValues=fields,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            pass

    def _count_update(self, bid: str, shard: int, new: str, old: str | None) -> dict[str, Any]:
        names, values = {"#new": new}, {":one": _n(1)}
        expr = "ADD #new :one"
        if old is not None:
            names["#old"], values[":minus"] = old, _n(-1)
            expr += ", #old :minus"
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"pk": _s(f"count#{bid}#{shard}")},
                "UpdateExpression": expr,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _batch_get(self, pks: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            self.table: {"Keys": [{"pk": _s(k)} for k in pks], "ConsistentRead": True}
        }
        for attempt in range(MAX_ATTEMPTS):
            resp = self.client.batch_get_item(RequestItems=request)
            found.extend(resp.get("Responses", {}).get(self.table, []))
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise RetryLater(1.0, f"BatchGetItem on {self.table}: keys left unprocessed")
