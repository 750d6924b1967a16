"""The other side of the claim-check interop test, run in its OWN process.

Importing ``sqs_extended_client`` patches ``boto3.Session`` for the whole process, so
it must never be imported by the pytest process. Usage (JSON on stdout):

    python extended_client_peer.py send QUEUE_URL BUCKET SIZE [legacy]
    python extended_client_peer.py receive QUEUE_URL BUCKET

Its S3 client ignores the endpoint given to SQS: the caller sets AWS_ENDPOINT_URL_S3.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import boto3
import sqs_extended_client  # noqa: F401  (patches boto3.Session)


def _client(bucket: str, legacy: bool):  # type: ignore[no-untyped-def]
    sqs = boto3.Session().client(
        "sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name="us-east-1"
    )
    sqs.large_payload_support = bucket
    sqs.use_legacy_attribute = legacy
    return sqs


def main(argv: list[str]) -> None:
    action, url, bucket = argv[:3]
    if action == "send":
        size, legacy = int(argv[3]), argv[4:] == ["legacy"]
        body = ("x" * size)[:size]
        _client(bucket, legacy).send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "peer"}},
        )
        out = {"sha256": hashlib.sha256(body.encode()).hexdigest(), "size": len(body)}
    else:
        sqs = _client(bucket, False)
        resp = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=2, MessageAttributeNames=["All"]
        )
        msgs = resp.get("Messages", [])
        out = {
            "bodies": [m["Body"] for m in msgs],
            "attributes": [
                {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}
                for m in msgs
            ],
        }
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
