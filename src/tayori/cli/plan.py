"""`tayori plan`: drain time and cost of a burst on AWS, embedded and Celery."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from tayori.deploy.template import TemplateOptions
from tayori.errors import ConfigError, TayoriError

# Numbers are taken as text and parsed here, so that every bad input is one line on
# stderr and exit code 2 (Click's own type errors print a usage block).


def _number(name: str, raw: str | None, kind: type = float) -> Any:
    if raw is None:
        return None
    try:
        value = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if kind is float and value != value:  # NaN
        raise ConfigError(f"{name} must be a number, got {raw!r}")
    return value


def _machine_rate(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}  # the PlanInput default
    if raw.strip().lower() in ("none", "inf", "unlimited"):
        return {"machine_rate": None}
    return {"machine_rate": _number("--machine-rate", raw)}


def _max_concurrency(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}  # the PlanInput default: what `tayori template` deploys
    if raw.strip().lower() in ("none", "unlimited"):
        return {"max_concurrency": None}  # the mapping's own limit
    return {"max_concurrency": _number("--max-concurrency", raw, int)}


def _fail(message: str) -> None:
    print(f"tayori plan: {message}", file=sys.stderr)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add `tayori plan` to the `tayori` app."""
    app.command("plan")(plan_command)


def render(result: Any) -> str:
    """A short human summary of a plan."""
    a, e, c = result.aws, result.embedded, result.celery
    inp = result.inputs
    rate = inp["provider_rate"]
    lines = [
        f"burst of {inp['emails']:,} emails, {inp['latency_ms']:g} ms per send, provider "
        + (f"{rate:g}/s" if rate else "unlimited")
        + (
            f", {inp['task_concurrency']} records at once per invocation"
            if inp["task_concurrency"] > 1
            else ""
        ),
        "",
        f"{'':22}{'drain':>12}{'peak conc.':>12}{'ideal':>12}",
        _row("AWS Lambda + SQS", a["drain_s"], a["peak_concurrency"], a["ideal_drain_s"]),
        _row(
            f"embedded (C={e['concurrency']}"
            + (f", P={e['processes']})" if e["processes"] > 1 else ")"),
            e["drain_s"],
            e["peak_concurrency"],
            e["ideal_drain_s"],
        ),
        _row(f"Celery ({c['workers']} workers)", c["drain_s"], c["workers"], c["ideal_drain_s"]),
        "",
        f"AWS cost (prices {result.prices['region']}, {result.prices['as_of']}):"
        f"{'per run':>14}{'per 1M emails':>16}",
    ]
    for key, label in (
        ("sqs", "SQS requests"),
        ("lambda_requests", "Lambda requests"),
        ("lambda_compute", "Lambda GB-seconds"),
        ("dynamodb_writes", "DynamoDB writes"),
        ("dynamodb_reads", "DynamoDB reads"),
        ("s3", "S3 (chunks, claim-check)"),
        ("ses", "SES"),
        ("total", "total"),
    ):
        run, million = _usd(a["cost"][key]), _usd(a["cost_per_million"][key])
        lines.append(f"  {label:<34}{run:>14}{million:>16}")
    req = a["requests"]
    lines.append(
        f"  ({req['sqs_total']:,} SQS requests, {req['lambda_invocations']:,} invocations, "
        f"{req['lambda_gb_seconds']:,.1f} GB-s, {req['dynamodb_write_units']:,} write units)"
    )
    lines.append(
        f"  (DynamoDB units, write / read: idempotency "
        f"{req['dynamodb_idempotency_write_units']:,} / {req['dynamodb_idempotency_read_units']:,}"
        f", mail store {req['dynamodb_mail_store_write_units']:,} / "
        f"{req['dynamodb_mail_store_read_units']:,}, rate limiter "
        f"{req['dynamodb_rate_limiter_write_units']:,} / "
        f"{req['dynamodb_rate_limiter_read_units']:,}; S3 {req['s3_put']:,} PUT / "
        f"{req['s3_get']:,} GET)"
    )
    lines.append(f"  MaximumConcurrency {inp['max_concurrency'] or 'unset (mapping limit)'}")
    if a["recommended_max_concurrency"]:
        lines.append(f"recommended MaximumConcurrency: {a['recommended_max_concurrency']}")
    if result.in_invocation:
        lines += ["", *render_in_invocation(result.in_invocation)]
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def render_in_invocation(side: dict[str, Any]) -> list[str]:
    """The Lambda run without and with in-invocation concurrency, side by side."""
    off, on = side["without"], side["with"]
    n = side["task_concurrency"]
    lines = [
        f"AWS Lambda with in-invocation concurrency (@app.task(concurrency={n})):",
        f"{'':34}{'without':>14}{'with':>14}",
    ]
    rows: list[tuple[str, Any]] = [
        ("records at once per invocation", lambda r: f"{r['task_concurrency']:,}"),
        ("peak concurrent executions", lambda r: f"{r['peak_concurrency']:,}"),
        ("invocations", lambda r: f"{r['invocations']:,}"),
        ("longest invocation", lambda r: _dur(r["longest_invocation_s"])),
        ("drain", lambda r: _dur(r["drain_s"])),
        ("Lambda GB-seconds", lambda r: f"{r['gb_seconds']:,.1f}"),
        ("Lambda duration cost", lambda r: _usd(r["cost"]["lambda_compute"])),
        ("Lambda request cost", lambda r: _usd(r["cost"]["lambda_requests"])),
        ("total AWS cost (with SES)", lambda r: _usd(r["cost"]["total"])),
        ("recommended MaximumConcurrency", lambda r: str(r["recommended_max_concurrency"] or "-")),
    ]
    for label, cell in rows:
        lines.append(f"  {label:<32}{cell(off):>14}{cell(on):>14}")
    return lines


def _row(label: str, drain: float, peak: int, ideal: float) -> str:
    return f"{label:<22}{_dur(drain):>12}{peak:>12,}{_dur(ideal):>12}"


def _dur(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def write_plot(result: Any, path: str) -> None:
    """Queue depth and concurrency over time for AWS, embedded and Celery."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'tayori[bench]'") from None
    fig, (depth_ax, conc_ax) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    labels = {"aws": "AWS Lambda + SQS", "embedded": "embedded", "celery": "Celery"}
    for name, points in result.timelines.items():
        ts = [p[0] for p in points]
        depth_ax.plot(ts, [p[1] for p in points], label=labels.get(name, name))
        conc_ax.plot(ts, [p[2] for p in points], label=labels.get(name, name))
    depth_ax.set_ylabel("messages left")
    conc_ax.set_ylabel("concurrent executions")
    conc_ax.set_xlabel("seconds")
    depth_ax.legend()
    depth_ax.set_title(f"tayori plan: {result.inputs['emails']:,} emails")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plan_command(
    emails: str | None = typer.Option(
        None, "--emails", metavar="N", help="emails in the burst (required)"
    ),
    provider_rate: str | None = typer.Option(
        None,
        "--provider-rate",
        metavar="R",
        help="emails/s the provider accepts (SES max send rate; 'none' = no limit; required)",
    ),
    latency_ms: str = typer.Option(
        "50", "--latency-ms", metavar="L", help="provider latency per send, ms"
    ),
    batch_size: str = typer.Option(
        "10", "--batch-size", metavar="B", help="ESM batch size, messages per invocation"
    ),
    batching_window: str = typer.Option(
        "0", "--batching-window", metavar="S", help="ESM batching window, seconds"
    ),
    max_concurrency: str | None = typer.Option(
        None,
        "--max-concurrency",
        metavar="C",
        help="ScalingConfig.MaximumConcurrency (default: what `tayori template` deploys; "
        "'none' = the mapping's limit)",
    ),
    bare: bool = typer.Option(
        False, "--tasks", help="bare tasks, not a Mailer broadcast (no mail-store requests)"
    ),
    memory_mb: str = typer.Option(
        str(TemplateOptions.memory_mb),
        "--memory-mb",
        metavar="M",
        help="Lambda memory, MB (prices the GB-seconds; default: what `tayori template` deploys)",
    ),
    payload_kb: str = typer.Option(
        "1", "--payload-kb", metavar="K", help="message size, KiB (SQS bills 64 KiB chunks)"
    ),
    concurrency: str = typer.Option(
        "200",
        "--concurrency",
        metavar="C",
        help="embedded runtime concurrency in total, split over --processes",
    ),
    processes: str = typer.Option(
        "1",
        "--processes",
        metavar="P",
        help="embedded worker processes (tayori worker --processes P --concurrency C/P)",
    ),
    machine_rate: str | None = typer.Option(
        None,
        "--machine-rate",
        metavar="R",
        help="msg/s one embedded process sustains when CPU-bound "
        "(default: measured, see docs/benchmarks.md; 'none' = no limit)",
    ),
    task_concurrency: str = typer.Option(
        "1",
        "--task-concurrency",
        metavar="N",
        help="records of one invocation run at once, as @app.task(concurrency=N) "
        "(1 = one after another); over 1 also prints the Lambda run without and with it",
    ),
    timeout: str = typer.Option(
        str(TemplateOptions.timeout),
        "--timeout",
        metavar="S",
        help="function timeout, seconds (every batch must end within it)",
    ),
    workers: str = typer.Option("10", "--workers", metavar="W", help="Celery workers"),
    plot: str | None = typer.Option(
        None, "--plot", metavar="FILE.png", help="also draw the drain curves into this PNG"
    ),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Capacity, drain time and cost of a burst on AWS vs the embedded default."""
    from tayori.plan import PlanInput, plan

    try:
        if emails is None or provider_rate is None:
            raise ConfigError("--emails N and --provider-rate R are required")
        rate = (
            None
            if provider_rate.strip().lower() in ("none", "inf", "unlimited")
            else (_number("--provider-rate", provider_rate))
        )
        inp = PlanInput(
            emails=_number("--emails", emails, int),
            provider_rate=rate,
            latency_ms=_number("--latency-ms", latency_ms),
            batch_size=_number("--batch-size", batch_size, int),
            batching_window_s=_number("--batching-window", batching_window),
            **_max_concurrency(max_concurrency),
            mail=not bare,
            memory_mb=_number("--memory-mb", memory_mb, int),
            payload_kb=_number("--payload-kb", payload_kb),
            embedded_concurrency=_number("--concurrency", concurrency, int),
            embedded_processes=_number("--processes", processes, int),
            **_machine_rate(machine_rate),
            celery_workers=_number("--workers", workers, int),
            task_concurrency=_number("--task-concurrency", task_concurrency, int),
            timeout_s=_number("--timeout", timeout),
        )
        if plot is not None and not plot.lower().endswith(".png"):
            raise ConfigError(f"--plot must name a .png file, got {plot!r}")
        result = plan(inp)
        if plot is not None:
            write_plot(result, plot)
    except TayoriError as exc:
        _fail(str(exc))
        return
    except OSError as exc:
        _fail(f"cannot write {plot}: {exc.strerror or exc}")
        return
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render(result))
