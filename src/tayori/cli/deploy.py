"""`tayori package` and `tayori template`: the Lambda zip and the SAM template."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from tayori.errors import ConfigError, TayoriError

# Numbers are taken as text and parsed here, so that every bad input is one line on
# stderr and exit code 2 (Click's own type errors print a usage block).


def _int(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _fail(command: str, message: str, code: int) -> None:
    print(f"tayori {command}: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _human(n: int) -> str:
    return f"{n / (1024 * 1024):.2f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KiB"


def register(app: typer.Typer) -> None:
    """Add `tayori package`, `tayori template` and `tayori lambda-local` to the `tayori` app."""
    register_lambda_local(app)
    app.command("package")(package_command)
    app.command("template")(template_command)


def register_lambda_local(app: typer.Typer) -> None:
    """Add `tayori lambda-local`: a packaged zip under the real awslambdaric, fed from the
    configured queues by the local event-source-mapping emulator."""
    app.command("lambda-local")(lambda_local)


def package_command(
    source: str = typer.Argument(".", help="the project directory"),
    handler: str = typer.Option(
        ...,
        "--handler",
        help="module:app (a tayori App or Mailer) or module.function (module-level)",
    ),
    requirements: str | None = typer.Option(
        None, "--requirements", "-r", metavar="FILE", help="the app's pip requirements"
    ),
    include: list[str] = typer.Option(
        [], "--include", "-i", metavar="PATH", help="also package this path (repeat)"
    ),
    output: str = typer.Option(
        "dist/lambda.zip", "--output", "-o", metavar="ZIP", help="where to write the zip"
    ),
    python: str = typer.Option("3.12", "--python", help="Lambda runtime: 3.12 or 3.13"),
    arch: str = typer.Option("x86_64", "--arch", help="x86_64 or arm64"),
    no_tayori: bool = typer.Option(
        False, "--no-tayori", help="do not add tayori itself (it is in the requirements)"
    ),
    include_boto3: bool = typer.Option(
        False, "--include-boto3", help="add a pinned boto3 (default: the runtime's)"
    ),
    no_verify: bool = typer.Option(
        False, "--no-verify", help="skip the import check (e.g. arm64 built on x86_64)"
    ),
    verify_python: str | None = typer.Option(
        None, "--verify-python", metavar="PATH", help="interpreter for the import check"
    ),
    allow_s3_upload: bool = typer.Option(
        False, "--allow-s3-upload", help="allow over 50 MiB zipped (deployed through S3)"
    ),
    find_links: list[str] = typer.Option(
        [], "--find-links", metavar="DIR", help="extra wheel directory for pip"
    ),
    no_index: bool = typer.Option(False, "--no-index", help="pip: do not use the index"),
    bytecode: bool = typer.Option(
        True, "--bytecode/--no-bytecode", help="ship bytecode: cold starts skip compiling"
    ),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Build a Lambda zip with its dependencies, import-checked; same input, same SHA-256."""
    from tayori.deploy.package import build_package

    pip_args: list[str] = [arg for d in find_links for arg in ("--find-links", d)]
    if no_index:
        pip_args.append("--no-index")
    try:
        result = build_package(
            source,
            output,
            handler=handler,
            requirements=requirements,
            include=include,
            python_version=python,
            architecture=arch,
            include_tayori=not no_tayori,
            include_boto3=include_boto3,
            pip_args=pip_args,
            verify=not no_verify,
            verify_python=verify_python,
            allow_s3_upload=allow_s3_upload,
            bytecode=bytecode,
        )
    except ConfigError as exc:
        _fail("package", str(exc), 2)
    except TayoriError as exc:
        _fail("package", str(exc), 1)
    if result.untracked_skipped:
        shown = ", ".join(result.untracked_skipped[:5])
        print(
            f"tayori package: left out {len(result.untracked_skipped)} untracked file(s) "
            f"(git add them to package them): {shown}",
            file=sys.stderr,
        )
    if bytecode and not result.bytecode:
        print(
            f"tayori package: no bytecode: no python{result.python_version} here to compile "
            "it (--verify-python PATH); each cold start compiles the sources",
            file=sys.stderr,
        )
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    checked = (
        f"imported in {result.import_seconds:.2f}s by a clean python{result.python_version}"
        if result.import_seconds is not None
        else "import NOT checked (--no-verify)"
    )
    print(
        f"{result.path}: {_human(result.zipped_bytes)} zipped (Lambda limit 50 MiB), "
        f"{_human(result.unzipped_bytes)} unzipped (limit 250 MiB), {result.files} files, "
        f"python{result.python_version} {result.architecture}"
        f"{', with bytecode' if result.bytecode else ''}\n"
        f"handler for Lambda: {result.handler} ({checked})\n"
        f"sha256 {result.sha256}"
    )


def template_command(
    app_name: str = typer.Option("tayori", "--app", help="app name (description only)"),
    handler: str = typer.Option(
        "tayori_handler.handler",
        "--handler",
        help="module:app, or the handler `tayori package` printed",
    ),
    queue: list[str] = typer.Option(
        [], "--queue", "-q", help="task queue name (repeat; default: default)"
    ),
    code_uri: str = typer.Option(
        "dist/lambda.zip", "--code-uri", metavar="ZIP", help="the zip `tayori package` built"
    ),
    timeout: str = typer.Option("60", "--timeout", metavar="S", help="function timeout, seconds"),
    memory: str = typer.Option("256", "--memory", metavar="MB", help="function memory, MB"),
    batch_size: str = typer.Option(
        "10", "--batch-size", metavar="B", help="ESM batch size, messages per invocation"
    ),
    batching_window: str = typer.Option(
        "0", "--batching-window", metavar="S", help="ESM batching window, seconds"
    ),
    max_concurrency: str = typer.Option(
        "50", "--max-concurrency", metavar="C", help="ScalingConfig.MaximumConcurrency"
    ),
    reserved_concurrency: str | None = typer.Option(
        None, "--reserved-concurrency", metavar="C", help="reserved concurrent executions"
    ),
    max_receive_count: str = typer.Option(
        "5", "--max-receive-count", metavar="N", help="receives before the DLQ"
    ),
    visibility_timeout: str | None = typer.Option(
        None,
        "--visibility-timeout",
        metavar="S",
        help="seconds (default: 6 x timeout + window)",
    ),
    bucket: str | None = typer.Option(None, "--bucket", help="default: generated"),
    table: str | None = typer.Option(None, "--table", help="default: generated"),
    blob_expiry_days: str = typer.Option(
        "21", "--blob-expiry-days", metavar="D", help="claim-check blobs expire after, days"
    ),
    ses_identity_arn: str | None = typer.Option(
        None, "--ses-identity-arn", metavar="ARN", help="SES identity the function may send as"
    ),
    python: str = typer.Option("3.12", "--python", help="Lambda runtime's Python version"),
    arch: str = typer.Option("x86_64", "--arch", help="x86_64 or arm64"),
    output: str | None = typer.Option(
        None, "--output", "-o", metavar="FILE", help="write here (default: stdout)"
    ),
    as_json: bool = typer.Option(False, "--json", help="machine-readable summary"),
) -> None:
    """Write an AWS SAM template: function, queues + DLQs, ESM, bucket, table, alarms."""
    from tayori.deploy.template import TemplateOptions, render_template

    try:
        opts = TemplateOptions(
            app=app_name,
            handler=handler,
            code_uri=code_uri,
            queues=tuple(queue) or ("default",),
            python_version=python,
            architecture=arch,
            timeout=_int("--timeout", timeout),
            memory_mb=_int("--memory", memory),
            batch_size=_int("--batch-size", batch_size),
            batching_window=_int("--batching-window", batching_window),
            max_concurrency=_int("--max-concurrency", max_concurrency),
            reserved_concurrency=_int("--reserved-concurrency", reserved_concurrency),
            max_receive_count=_int("--max-receive-count", max_receive_count),
            visibility_timeout=_int("--visibility-timeout", visibility_timeout),
            bucket=bucket,
            idempotency_table=table,
            blob_expiry_days=_int("--blob-expiry-days", blob_expiry_days),
            ses_identity_arn=ses_identity_arn,
        )
        text = render_template(opts)
    except ConfigError as exc:
        _fail("template", str(exc), 2)
    summary: dict[str, Any] = {
        "queues": list(opts.queues),
        "visibility_timeout": opts.queue_visibility_timeout,
        "max_receive_count": opts.max_receive_count,
        "batch_size": opts.batch_size,
        "max_concurrency": opts.max_concurrency,
    }
    if output is None:
        if as_json:
            print(json.dumps({**summary, "template": json.loads(text)}))
        else:
            sys.stdout.write(text)
        return
    try:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text)
    except OSError as exc:
        _fail("template", f"cannot write {output}: {exc.strerror or exc}", 2)
    if as_json:
        print(json.dumps({**summary, "path": output}))
    else:
        print(
            f"wrote {output}: queues {', '.join(opts.queues)}, visibility timeout "
            f"{opts.queue_visibility_timeout}s, maxReceiveCount {opts.max_receive_count}"
        )


def lambda_local(
    artifact: str = typer.Argument("dist/lambda.zip", help="the zip (or its unzipped dir)"),
    python: str = typer.Option(
        ..., "--python", metavar="PATH", help="a Python with boto3 + awslambdaric"
    ),
    handler: str = typer.Option(
        "tayori_handler.handler", "--handler", help="the handler Lambda is given"
    ),
    queue: list[str] = typer.Option(..., "--queue", "-q", help="queue to poll (repeat)"),
    concurrency: int = typer.Option(
        1, "--concurrency", "-c", min=1, max=64, help="runtime processes (executions)"
    ),
    batch_size: int = typer.Option(
        10, "--batch-size", "-b", min=1, max=10_000, help="records per invocation"
    ),
    function_timeout: float = typer.Option(
        60.0, "--function-timeout", min=1, max=900, help="the function's timeout in seconds"
    ),
    log: str | None = typer.Option(None, "--log", metavar="FILE", help="the function's output"),
    as_json: bool = typer.Option(False, "--json", help="print run stats as JSON on exit"),
) -> None:
    """Run a Lambda zip locally as Lambda does (awslambdaric) on an SQS-like trigger."""
    import signal

    from tayori.backends import open_backend
    from tayori.cli.core import one_line_errors
    from tayori.deploy.lambda_local import LocalFunction
    from tayori.runtime.local import LocalRuntime, RuntimeConfig, Source
    from tayori.runtime.stopflag import StopFlag
    from tayori.settings import Settings

    with one_line_errors():
        backend = open_backend(Settings())  # the trigger's queues; the tasks are in the zip
        backend.check_resources(queues=queue)
        region = getattr(backend, "region", "us-east-1")
        config = RuntimeConfig(
            concurrency=concurrency,
            batch_size=batch_size,
            function_timeout=function_timeout,
            queues=tuple(queue),
        )
        out = open(log, "ab") if log else None  # noqa: SIM115 (closed below)
        function = LocalFunction(
            artifact,
            handler,
            python,
            concurrency=concurrency,
            timeout=function_timeout,
            region=region,
            log=out,
        )
        try:
            function.wait_ready()
            stop = StopFlag()  # set from a signal handler: no lock (see runtime.stopflag)
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            queues = tuple(backend.get_queue(name) for name in queue)
            source = Source(queues, function, function_name="tayori-local", region=region)
            runtime = LocalRuntime(source, config)
            runtime.start()
            print(
                f"tayori lambda-local: {handler} x {concurrency} under awslambdaric, "
                f"polling {', '.join(queue)}; Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )
            stop.wait()
            stats = runtime.stop().as_dict()
        finally:
            function.close()
            if out is not None:
                out.close()
        if as_json:
            print(json.dumps(stats))
        else:
            print(f"tayori lambda-local stopped: {json.dumps(stats)}", file=sys.stderr)
