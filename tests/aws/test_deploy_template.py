"""`tayori template` is cfn-lint clean and carries the numbers the guarantees need;
the example Terraform configuration parses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hcl2
import pytest
from typer.testing import CliRunner

from tayori.cli import app as cli
from tayori.deploy.template import TemplateOptions, build_template, render_template
from tayori.errors import ConfigError

TERRAFORM = Path(__file__).resolve().parents[2] / "examples" / "terraform" / "main.tf"


def cfn_lint(path: Path) -> list[str]:
    """cfn-lint's findings (errors and warnings; SAM is transformed first), one per line."""
    from cfnlint.api import ManualArgs, lint

    matches = lint(path.read_text(), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    return [f"{m.rule.id} {m.message}" for m in matches]


def test_templates_are_cfn_lint_clean_and_lint_does_catch_errors(tmp_path: Path) -> None:
    good = [
        TemplateOptions(),
        TemplateOptions(
            queues=("mail", "reports"),
            batch_size=100,
            batching_window=5,
            reserved_concurrency=200,
            bucket="shop-tayori-blobs",
            idempotency_table="shop-idem",
            architecture="arm64",
            ses_identity_arn="arn:aws:ses:us-east-1:123456789012:identity/example.com",
        ),
    ]
    paths = []
    for i, opts in enumerate(good):
        paths.append(tmp_path / f"t{i}.json")
        paths[-1].write_text(render_template(opts))
    broken = build_template(TemplateOptions())
    broken["Resources"]["QueueDefault"]["Properties"]["VisibilityTimeout"] = "soon"
    (tmp_path / "broken.json").write_text(json.dumps(broken))

    for path in paths:
        assert cfn_lint(path) == []
    assert any(f.startswith("E3012") for f in cfn_lint(tmp_path / "broken.json"))  # it looks


def test_template_numbers() -> None:
    t = build_template(TemplateOptions(queues=("mail",), timeout=30, batching_window=10))
    res = t["Resources"]
    queue = res["QueueMail"]["Properties"]
    assert queue["QueueName"] == "mail"
    assert queue["VisibilityTimeout"] == 6 * 30 + 10
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueueMail", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert res["DeadLetterQueueMail"]["Properties"]["QueueName"] == "mail-dlq"
    fn = res["Worker"]["Properties"]
    event = fn["Events"]["SqsMail"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["ScalingConfig"] == {"MaximumConcurrency": 50}
    assert event["MaximumBatchingWindowInSeconds"] == 10
    assert fn["Environment"]["Variables"]["TAYORI_BUCKET"] == {"Ref": "ClaimCheckBucket"}
    ttl = res["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiration", "Enabled": True}
    rule = res["ClaimCheckBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert rule["ExpirationInDays"] == 21
    metrics = {
        r["Properties"]["MetricName"] for r in res.values() if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert metrics == {
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "Errors",
        "Throttles",
    }
    # least privilege: no wildcard actions, resources scoped to this stack's resources
    for statement in fn["Policies"][0]["Statement"]:
        assert all("*" not in action for action in statement["Action"])
        assert statement["Resource"] != "*"


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (dict(visibility_timeout=100, timeout=60), "under 6 x function timeout"),
        (dict(batch_size=50), "batching window of at least 1 s"),
        (dict(max_concurrency=1), "maximum concurrency"),
        (dict(blob_expiry_days=3), "blob expiry must outlive"),
        (dict(queues=("bad name",)), "invalid queue name"),
    ],
)
def test_impossible_options_refused(opts: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_template(TemplateOptions(**opts))


def test_cli_template(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "template.json"
    result = runner.invoke(
        cli, ["template", "-q", "mail", "--timeout", "20", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["visibility_timeout"] == 120
    assert (
        json.loads(out.read_text())["Resources"]["QueueMail"]["Properties"]["VisibilityTimeout"]
        == 120
    )
    bad = runner.invoke(cli, ["template", "--batch-size", "ten"])
    assert (
        bad.exit_code == 2
        and bad.stderr == "tayori template: --batch-size must be an integer, got 'ten'\n"
    )


def _unquote(value: object) -> object:
    return value.strip('"') if isinstance(value, str) else value


def test_terraform_example_parses_and_matches_the_template_rules() -> None:
    with TERRAFORM.open() as fh:
        doc = hcl2.load(fh)
    modules = {_unquote(k): v for m in doc["module"] for k, v in m.items()}
    worker = modules["worker"]
    assert _unquote(worker["source"]) == "terraform-aws-modules/lambda/aws"
    esm = worker["event_source_mapping"]["sqs"]
    assert [_unquote(x) for x in esm["function_response_types"]] == ["ReportBatchItemFailures"]
    assert "maximum_concurrency" in esm["scaling_config"]
    resources = {_unquote(k): v for r in doc["resource"] for k, v in r.items()}
    queue = {_unquote(k): v for k, v in resources["aws_sqs_queue"].items()}["queue"]
    assert _unquote(queue["visibility_timeout_seconds"]) == "${local.visibility_timeout}"
    (local,) = doc["locals"]
    assert local["visibility_timeout"] == "${6 * var.timeout + var.batching_window}"
    table = _tf_blocks(doc, "resource")["aws_dynamodb_table.idempotency"]
    assert _unquote(table["ttl"][0]["attribute_name"]) == "expiration"


# ------------------------------------------------------------ template <-> terraform parity

CFN_LABELS = {
    "QueueMail": "queue",
    "DeadLetterQueueMail": "dlq",
    "ClaimCheckBucket": "bucket",
    "IdempotencyTable": "idempotency-table",
    "MailTable": "mail-table",
}
TF_LABELS = {
    "aws_sqs_queue.queue": "queue",
    "aws_sqs_queue.dlq": "dlq",
    "aws_s3_bucket.blobs": "bucket",
    "aws_dynamodb_table.idempotency": "idempotency-table",
    "aws_dynamodb_table.mail": "mail-table",
}


def _cfn_label(ref: Any) -> str:
    if isinstance(ref, dict) and "Fn::GetAtt" in ref:
        return CFN_LABELS[ref["Fn::GetAtt"][0]]
    text = ref["Fn::Sub"]  # "${ClaimCheckBucket.Arn}/*", "${MailTable.Arn}/index/*"
    logical, _, rest = text.removeprefix("${").partition(".Arn}")
    return CFN_LABELS[logical] + rest


def _tf_label(ref: str) -> str:
    inner = _unquote(ref).removeprefix("${")
    target, _, rest = inner.partition(".arn}")
    if not rest and target.endswith(".arn"):
        target = target.removesuffix(".arn")
    return TF_LABELS[target.removesuffix("}")] + rest


def _cfn_statements(statements: list[dict[str, Any]]) -> set[tuple[frozenset, frozenset]]:
    out = set()
    for st in statements:
        refs = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        out.add((frozenset(st["Action"]), frozenset(_cfn_label(r) for r in refs)))
    return out


def _tf_statements(statements: list[dict[str, Any]]) -> set[tuple[frozenset, frozenset]]:
    return {
        (
            frozenset(_unquote(a) for a in st["actions"]),
            frozenset(_tf_label(r) for r in st["resources"]),
        )
        for st in statements
    }


def _tf_blocks(doc: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    """{"aws_sqs_queue.queue": {...}, ...} for the resource (or data) blocks of ``doc``."""
    out = {}
    for block in doc.get(key, []):
        for kind, named in block.items():
            for name, body in named.items():
                out[f"{_unquote(kind)}.{_unquote(name)}"] = body
    return out


def test_template_and_terraform_describe_the_same_resources_iam_and_alarms() -> None:
    with TERRAFORM.open() as fh:
        doc = hcl2.load(fh)
    tf = _tf_blocks(doc, "resource")
    tf_data = _tf_blocks(doc, "data")
    worker = {_unquote(k): v for m in doc["module"] for k, v in m.items()}["worker"]
    variables = {_unquote(k): v for b in doc["variable"] for k, v in b.items()}
    cfn = build_template(TemplateOptions(app="shop", queues=("mail",)))["Resources"]

    # IAM: the worker role and the web app's (producer) policy, statement by statement
    fn = cfn["Worker"]["Properties"]
    assert _cfn_statements(fn["Policies"][0]["Statement"]) == _tf_statements(
        list(worker["policy_statements"].values())
    )
    producer = cfn["ProducerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    tf_producer = tf_data["aws_iam_policy_document.producer"]["statement"]
    assert _cfn_statements(producer) == _tf_statements(tf_producer)
    assert (
        tf["aws_iam_policy.producer"]["policy"] == "${data.aws_iam_policy_document.producer.json}"
    )

    # alarms: DLQ depth, oldest message, function errors and throttles
    def cfn_alarm(p: dict[str, Any]) -> tuple[Any, ...]:
        return (p["Namespace"], p["MetricName"], p["Statistic"], p["Threshold"])

    def tf_alarm(p: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_unquote(p[k]) for k in ("namespace", "metric_name", "statistic", "threshold"))

    alarms = {cfn_alarm(r["Properties"]) for r in cfn.values() if r["Type"].endswith("Alarm")}
    tf_alarms = {tf_alarm(b) for k, b in tf.items() if k.startswith("aws_cloudwatch_metric")}
    assert alarms == tf_alarms and len(alarms) == 4

    # queues, bucket, tables: the numbers the guarantees rest on
    q, d = cfn["QueueMail"]["Properties"], cfn["DeadLetterQueueMail"]["Properties"]
    tq, td = tf["aws_sqs_queue.queue"], tf["aws_sqs_queue.dlq"]
    assert q["MessageRetentionPeriod"] == tq["message_retention_seconds"]
    assert q["MaximumMessageSize"] == tq["max_message_size"]
    assert d["MessageRetentionPeriod"] == td["message_retention_seconds"]
    assert q["RedrivePolicy"]["maxReceiveCount"] == variables["max_receive_count"]["default"]
    bucket = cfn["ClaimCheckBucket"]["Properties"]
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    tf_rule = tf["aws_s3_bucket_lifecycle_configuration.blobs"]["rule"][0]
    assert rule["ExpirationInDays"] == tf_rule["expiration"][0]["days"]
    pab = tf["aws_s3_bucket_public_access_block.blobs"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls")
    assert all(pab[k] is True for k in (*flags, "restrict_public_buckets"))
    sse = tf["aws_s3_bucket_server_side_encryption_configuration.blobs"]["rule"][0]
    sse_algorithm = sse["apply_server_side_encryption_by_default"][0]["sse_algorithm"]
    assert _unquote(sse_algorithm) == "AES256"
    idem, tf_idem = cfn["IdempotencyTable"]["Properties"], tf["aws_dynamodb_table.idempotency"]
    assert idem["KeySchema"][0]["AttributeName"] == _unquote(tf_idem["hash_key"])
    assert idem["TimeToLiveSpecification"]["AttributeName"] == _unquote(
        tf_idem["ttl"][0]["attribute_name"]
    )
    mail, tf_mail = cfn["MailTable"]["Properties"], tf["aws_dynamodb_table.mail"]
    assert {(a["AttributeName"], a["AttributeType"]) for a in mail["AttributeDefinitions"]} == {
        (_unquote(a["name"]), _unquote(a["type"])) for a in tf_mail["attribute"]
    }
    [gsi], [tf_gsi] = mail["GlobalSecondaryIndexes"], tf_mail["global_secondary_index"]
    assert (gsi["IndexName"], gsi["Projection"]["ProjectionType"]) == (
        _unquote(tf_gsi["name"]),
        _unquote(tf_gsi["projection_type"]),
    )
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == [
        _unquote(tf_gsi["hash_key"]),
        _unquote(tf_gsi["range_key"]),
    ]
    # the function: same handler default and the same settings in its environment
    assert fn["Handler"] == _unquote(variables["handler"]["default"]) == "tayori_handler.handler"
    assert set(fn["Environment"]["Variables"]) == set(worker["environment_variables"])


def test_template_handler_forms() -> None:
    t = build_template(TemplateOptions(handler="shop.mail:mailer"))
    assert t["Resources"]["Worker"]["Properties"]["Handler"] == "tayori_handler.handler"
    t = build_template(TemplateOptions(handler="shop.tasks.lambda_handler"))
    assert t["Resources"]["Worker"]["Properties"]["Handler"] == "shop.tasks.lambda_handler"
    with pytest.raises(ConfigError, match="malformed"):
        build_template(TemplateOptions(handler="lambda_handler"))
