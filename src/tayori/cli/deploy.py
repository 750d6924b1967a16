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
    """Add `tayori package` and `tayori template` to the `tayori` app."""

    @app.command("package")
    def package_command(
        source: str = typer.Argument(".", help="the app directory (copied into the zip root)"),
        requirements: str | None = typer.Option(
            None, "--requirements", "-r", metavar="FILE", help="pip requirements for Lambda"
        ),
        output: str = typer.Option(
            "dist/lambda.zip", "--output", "-o", metavar="ZIP", help="where to write the zip"
        ),
        python: str = typer.Option("3.12", "--python", help="Lambda runtime's Python version"),
        arch: str = typer.Option("x86_64", "--arch", help="x86_64 or arm64"),
        handler: str | None = typer.Option(
            None, "--handler", help="check this handler's module is in the zip"
        ),
        no_tayori: bool = typer.Option(
            False, "--no-tayori", help="do not copy tayori itself (it is in the requirements)"
        ),
        allow_s3_upload: bool = typer.Option(
            False, "--allow-s3-upload", help="allow over 50 MiB zipped (deployed through S3)"
        ),
        find_links: list[str] = typer.Option(
            [], "--find-links", metavar="DIR", help="extra wheel directory for pip"
        ),
        no_index: bool = typer.Option(False, "--no-index", help="pip: do not use PyPI"),
        as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    ) -> None:
        """Build a reproducible Lambda deployment zip (same input -> same SHA-256)."""
        from tayori.deploy.package import build_package

        pip_args: list[str] = [arg for d in find_links for arg in ("--find-links", d)]
        if no_index:
            pip_args.append("--no-index")
        try:
            result = build_package(
                source,
                output,
                requirements=requirements,
                python_version=python,
                architecture=arch,
                include_tayori=not no_tayori,
                handler=handler,
                pip_args=pip_args,
                allow_s3_upload=allow_s3_upload,
            )
        except ConfigError as exc:
            _fail("package", str(exc), 2)
        except TayoriError as exc:
            _fail("package", str(exc), 1)
        if as_json:
            print(json.dumps(result.to_dict()))
        else:
            print(
                f"{result.path}: {_human(result.zipped_bytes)} zipped, "
                f"{_human(result.unzipped_bytes)} unzipped, {result.files} files, "
                f"python{result.python_version} {result.architecture}\nsha256 {result.sha256}"
            )

    @app.command("template")
    def template_command(
        app_name: str = typer.Option("tayori", "--app", help="app name (description only)"),
        handler: str = typer.Option(
            "app.app.lambda_handler", "--handler", help="e.g. myapp.tasks.app.lambda_handler"
        ),
        queue: list[str] = typer.Option(
            [], "--queue", "-q", help="task queue name (repeat; default: default)"
        ),
        code_uri: str = typer.Option(
            "dist/lambda.zip", "--code-uri", metavar="ZIP", help="the zip `tayori package` built"
        ),
        timeout: str = typer.Option(
            "60", "--timeout", metavar="S", help="function timeout, seconds"
        ),
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
