"""`tayori template` is cfn-lint clean and carries the numbers the guarantees need;
the example Terraform configuration parses."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert metrics == {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}
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
    table = {_unquote(k): v for k, v in resources["aws_dynamodb_table"].items()}["idempotency"]
    assert _unquote(table["ttl"][0]["attribute_name"]) == "expiration"
