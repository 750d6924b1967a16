"""The DynamoDB-backed bucket (the AWS design) against a real moto server."""

from __future__ import annotations

import threading
import time

import boto3

from tayori.mail import DynamoDBRateLimiter


def test_dynamodb_bucket_paces_racing_threads(moto_url: str) -> None:
    ddb = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ddb.create_table(
        TableName="tayori-mail",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    grants: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        limiter = DynamoDBRateLimiter(ddb, "tayori-mail", rate=20, burst=1, name="ses")
        for _ in range(5):
            limiter.acquire()
            with lock:
                grants.append(time.time())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grants.sort()
    assert len(grants) == 20
    span = grants[-1] - grants[0]
    assert span >= 19 / 20 * 0.9  # never faster than the rate (small clock slack)
    item = ddb.get_item(TableName="tayori-mail", Key={"pk": {"S": "ratelimit#ses"}})["Item"]
    assert int(item["version"]["N"]) == 20  # one conditional write per grant
