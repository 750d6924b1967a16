"""The planner's prices: every AWS request a broadcast makes, counted, then priced.

Prices come from one dated table, ``tayori/data/prices.json`` (edit it, not the code).
The requests follow what the code does (see ``tayori.mail.broadcast``,
``tayori.backends.aws.mail``, ``tayori.mail.ratelimit``, ``tayori.claimcheck``):

- producer: ``start_broadcast`` (PutItem) and ``set_total`` (UpdateItem) on the mail
  table; a list longer than ``inline_limit`` is stored as ``chunk_size``-recipient
  chunks (one S3 PUT each) and one fan-out message is sent;
- fan-out: with more than one chunk, the first fan-out message sends one message per
  chunk; each chunk message reads its chunk (S3 GET) and ``send_many``s the sends;
  every fan-out message is a task run (idempotency put + update, receive, delete);
- per email: SQS send/receive/delete (batched by 10), the idempotency put + update,
  the mail store's outcome read and suppression read (strongly consistent GetItems) and
  its outcome write (one TransactWriteItems of 2 items: 2 units each), the rate
  limiter's read + conditional write when a provider rate is given, and an S3 PUT + GET
  when the message goes through the claim-check.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

SEND_BATCH = 10  # SendMessageBatch / ReceiveMessage / DeleteMessageBatch entries per call
TRANSACT_UNITS_PER_ITEM = 2  # DynamoDB: a transactional write costs 2 write units per item
OUTCOME_TRANSACTION_ITEMS = 2  # the outcome item + its counter shard


@cache
def load_prices(path: str | None = None) -> dict[str, Any]:
    """The one dated price table (``tayori/data/prices.json`` unless ``path`` is given)."""
    if path is None:
        text = resources.files("tayori").joinpath("data/prices.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    return json.loads(text)


@dataclass(frozen=True, slots=True)
class BroadcastShape:
    """What the pricing needs to know about one simulated burst."""

    emails: int
    batch_size: int
    max_batch_bytes: int
    body_bytes: int
    sqs_bytes: int
    offloaded: bool
    invocations: int  # of the send task (the simulation's)
    busy_seconds: float
    memory_mb: int
    architecture: str
    duplicate_rate: float = 0.0
    mail: bool = True
    rate_limiter: bool = False
    chunk_size: int = 1000
    inline_limit: int = 1000

    @property
    def chunks(self) -> int:
        """Recipient chunks the producer stores (0: the list rides inline)."""
        if not self.mail or self.emails <= self.inline_limit:
            return 0
        return math.ceil(self.emails / self.chunk_size)

    @property
    def fanout_messages(self) -> int:
        """The broadcast's fan-out message, plus one per chunk when there are several."""
        if not self.mail:
            return 0
        return 1 + (self.chunks if self.chunks > 1 else 0)


def count_requests(shape: BroadcastShape, prices: dict[str, Any]) -> dict[str, float]:
    """Every billed request of the burst, by service and by who makes it."""
    n = shape.emails
    chunk_bytes = prices["sqs"]["billing_chunk_bytes"]
    per_call = max(1, min(SEND_BATCH, shape.max_batch_bytes // shape.sqs_bytes))
    full, rest = divmod(n, per_call)
    send = full * math.ceil(per_call * shape.sqs_bytes / chunk_bytes)
    if rest:
        send += math.ceil(rest * shape.sqs_bytes / chunk_bytes)
    receive = math.ceil(n / SEND_BATCH) * math.ceil(
        min(n, SEND_BATCH) * shape.sqs_bytes / chunk_bytes
    )
    delete = shape.invocations * math.ceil(min(n, shape.batch_size) / SEND_BATCH)
    fan = shape.fanout_messages
    # fan-out messages: the first one sent alone, the chunk messages in batches of 10;
    # each is received and deleted with the sends around it (counted as its own calls)
    fan_sqs = (1 + math.ceil(shape.chunks / SEND_BATCH) + 2 * fan) if fan else 0
    sqs_total = send + receive + delete + fan_sqs

    idempotency_writes = 2 * (n + fan)  # Powertools: put INPROGRESS + update COMPLETED
    duplicate_reads = math.ceil(n * shape.duplicate_rate)
    mail_writes = (2 + n * OUTCOME_TRANSACTION_ITEMS * TRANSACT_UNITS_PER_ITEM) if shape.mail else 0
    mail_reads = 2 * n if shape.mail else 0  # outcome + suppression, strongly consistent
    limiter_reads = limiter_writes = n if shape.rate_limiter else 0
    write_units = idempotency_writes + mail_writes + limiter_writes
    read_units = duplicate_reads + mail_reads + limiter_reads

    claim = n if shape.offloaded else 0
    s3_put = claim + shape.chunks
    s3_get = claim + shape.chunks
    invocations = shape.invocations + fan
    gb_seconds = (shape.busy_seconds + invocations * 0.0005) * shape.memory_mb / 1024
    return {
        "sqs_send": send,
        "sqs_receive": receive,
        "sqs_delete": delete,
        "sqs_fanout": fan_sqs,
        "sqs_total": sqs_total,
        "lambda_invocations": invocations,
        "lambda_gb_seconds": gb_seconds,
        "dynamodb_idempotency_write_units": idempotency_writes,
        "dynamodb_idempotency_read_units": duplicate_reads,
        "dynamodb_mail_store_write_units": mail_writes,
        "dynamodb_mail_store_read_units": mail_reads,
        "dynamodb_rate_limiter_write_units": limiter_writes,
        "dynamodb_rate_limiter_read_units": limiter_reads,
        "dynamodb_write_units": write_units,
        "dynamodb_read_units": read_units,
        "s3_put": s3_put,
        "s3_get": s3_get,
        "s3_chunk_put": shape.chunks,
        "s3_claim_check_put": claim,
        "ses_emails": n,
        "message_bytes": shape.body_bytes,
    }


def aws_costs(
    shape: BroadcastShape, prices: dict[str, Any]
) -> tuple[dict[str, float], dict[str, float]]:
    """(cost by service in USD, request counts) of the burst on AWS."""
    counts = count_requests(shape, prices)
    lam, ddb, s3 = prices["lambda"], prices["dynamodb"], prices["s3"]
    per_gbs = lam["per_gb_second_x86" if shape.architecture == "x86" else "per_gb_second_arm64"]
    costs = {
        "sqs": counts["sqs_total"] * prices["sqs"]["standard_per_million_requests"] / 1e6,
        "lambda_requests": counts["lambda_invocations"] * lam["per_million_requests"] / 1e6,
        "lambda_compute": counts["lambda_gb_seconds"] * per_gbs,
        "dynamodb_writes": counts["dynamodb_write_units"]
        * ddb["on_demand_per_million_write_units"]
        / 1e6,
        "dynamodb_reads": counts["dynamodb_read_units"]
        * ddb["on_demand_per_million_read_units"]
        / 1e6,
        "s3": counts["s3_put"] * s3["put_per_thousand"] / 1000
        + counts["s3_get"] * s3["get_per_thousand"] / 1000,
        "ses": shape.emails * prices["ses"]["per_thousand_emails"] / 1000,
    }
    costs["total"] = sum(costs.values())
    return costs, counts
