"""IAM statements and CloudWatch alarms of a tayori stack, shared by ``tayori template``
and checked against ``examples/terraform`` (tests/aws/test_deploy_template.py).

Two roles: the worker (the Lambda function: consume, retry, dead-letter, claim-check
blobs, idempotency records, mail store) and the web app (what ``Task.send/send_many`` and
``Mailer.broadcast`` / ``Mailer.status`` call). Alarms: DLQ depth > 0, age of the oldest
message, function errors and throttles.
"""

from __future__ import annotations

from typing import Any


def worker_statements(queue_arns: list[Any], dlq_arns: list[Any]) -> list[dict[str, Any]]:
    """The Lambda function's role (the event source mapping polls with it too)."""
    return [
        {
            # consume (the event source mapping polls with the function's role), retry
            # later (visibility), look up the redrive policy, fan out / chain tasks
            "Effect": "Allow",
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:SendMessage",
            ],
            "Resource": queue_arns,
        },
        {
            # dead-letter from the handler (PermanentError) with the reason attached
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
            "Resource": dlq_arns,
        },
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": {"Fn::Sub": "${ClaimCheckBucket.Arn}/*"},
        },
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            "Resource": {"Fn::GetAtt": ["IdempotencyTable", "Arn"]},
        },
        {
            # mail store: conditional writes in transactions, status reads, broadcast list
            "Effect": "Allow",
            "Action": [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
            ],
            "Resource": [
                {"Fn::GetAtt": ["MailTable", "Arn"]},
                {"Fn::Sub": "${MailTable.Arn}/index/*"},
            ],
        },
    ]


def producer_statements(queue_arns: list[Any]) -> list[dict[str, Any]]:
    """The web app's role: ``Task.send/send_many`` (SQS send, S3 put for claim-check
    bodies) and ``Mailer.broadcast`` / ``Mailer.status`` (the mail table)."""
    return [
        {
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
            "Resource": queue_arns,
        },
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": {"Fn::Sub": "${ClaimCheckBucket.Arn}/*"},
        },
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
            ],
            "Resource": [
                {"Fn::GetAtt": ["MailTable", "Arn"]},
                {"Fn::Sub": "${MailTable.Arn}/index/*"},
            ],
        },
    ]


def function_alarm(description: str, metric: str) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": "AWS/Lambda",
            "MetricName": metric,
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "Worker"}}],
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": {
                "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
            },
        },
    }


def alarm(description: str, queue_name: Any, metric: str, stat: str, threshold: int) -> dict:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": "AWS/SQS",
            "MetricName": metric,
            "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
            "Statistic": stat,
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": {
                "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
            },
        },
    }
