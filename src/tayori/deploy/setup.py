"""``tayori setup``: create what the configured backend needs; safe to run again.

Per queue its dead-letter queue (14 days' retention) and a redrive policy, with the
visibility timeout the event source mapping needs (>= 6 x function timeout + batching
window); on AWS the claim-check bucket, the idempotency table and the mail table (see
:meth:`tayori.backends.aws.AwsBackend.setup_resources`); on the embedded backend its
directory. ``dry_run`` only reads and reports what it would create.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tayori.backends.aws.resources import CREATED, EXISTS, WOULD_CREATE, Step
from tayori.backends.base import MAX_RETENTION_SECONDS, QueueSpec, RedrivePolicy
from tayori.errors import ConfigError, QueueDoesNotExist, ResourcesMissing
from tayori.runtime.esm import recommended_visibility_timeout
from tayori.settings import Settings


def queue_visibility_timeout(
    settings: Settings,
    function_timeout: float,
    batching_window: float,
    explicit: int | None = None,
) -> int:
    """The queue's visibility timeout: the explicit one if it keeps the rule, else the
    larger of the settings' and 6 x function timeout + batching window."""
    want = recommended_visibility_timeout(function_timeout, batching_window)
    if explicit is not None:
        if explicit < want:
            raise ConfigError(
                f"--visibility-timeout {explicit} is under 6 x function timeout + batching "
                f"window = {want}s: a slow batch would be delivered twice"
            )
        return explicit
    return max(settings.visibility_timeout, want)


def queue_specs(
    settings: Settings, names: Sequence[str], visibility_timeout: int
) -> list[tuple[str, str, QueueSpec]]:
    """(kind, name, spec) in creation order: each DLQ before the queue that names it."""
    specs: list[tuple[str, str, QueueSpec]] = []
    for name in names:
        dlq = f"{name}{settings.dlq_suffix}"
        specs.append(("dead-letter queue", dlq, QueueSpec(retention_seconds=MAX_RETENTION_SECONDS)))
        spec = QueueSpec(
            visibility_timeout=visibility_timeout,
            max_message_size=settings.max_batch_bytes,
            redrive=RedrivePolicy(dlq, settings.max_receive_count),
        )
        specs.append(("queue", name, spec))
    return specs


def run_setup(
    settings: Settings,
    backend_factory: Any,
    queues: Sequence[str],
    *,
    function_timeout: float = 60.0,
    batching_window: float = 0.0,
    visibility_timeout: int | None = None,
    dry_run: bool = False,
) -> list[Step]:
    """Create (or, with ``dry_run``, only report) everything; returns one step per resource.

    ``backend_factory`` is called only when the backend may be touched (opening the
    embedded backend creates its directory, which a dry run must not do)."""
    if not queues:
        raise ConfigError("no queues to set up: pass --app module:app or --queue NAME")
    vt = queue_visibility_timeout(settings, function_timeout, batching_window, visibility_timeout)
    specs = queue_specs(settings, sorted(set(queues)), vt)
    steps: list[Step] = []
    if settings.scheme == "sqlite":
        directory = Path(settings.sqlite_path)
        existed = directory.is_dir()
        if dry_run and not existed:
            steps.append(Step("directory", str(directory), WOULD_CREATE))
            return steps + [Step(k, n, WOULD_CREATE, _detail(s)) for k, n, s in specs]
        steps.append(Step("directory", str(directory), EXISTS if existed else CREATED))
        backend = backend_factory()
    else:
        backend = backend_factory()
        steps += backend.setup_resources(dry_run=dry_run)
        steps.append(_mail_table(backend, settings, dry_run=dry_run))
    for kind, name, spec in specs:
        try:
            backend.get_queue(name)
            action = EXISTS
        except QueueDoesNotExist:
            action = WOULD_CREATE if dry_run else CREATED
        if not dry_run:
            backend.create_queue(name, spec)  # an existing queue takes these attributes
        steps.append(Step(kind, name, action, _detail(spec)))
    return steps


def _mail_table(backend: Any, settings: Settings, *, dry_run: bool) -> Step:
    """The mail store's table (broadcasts, outcomes, suppression, rate-limit buckets)."""
    from tayori.backends.aws.mail import create_mail_table, mail_table_name
    from tayori.backends.aws.resources import ensure_table

    name = mail_table_name(settings.idempotency_table)
    detail = "broadcasts, outcomes, suppression list, rate-limit buckets"
    try:
        return ensure_table(
            backend.client("dynamodb"), name, create_mail_table, detail, dry_run=dry_run
        )
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
            raise ResourcesMissing(f"cannot set up table {name!r}: {exc}", missing=[]) from None
        raise


def _detail(spec: QueueSpec) -> str:
    if spec.redrive is None:
        return f"retention {spec.retention_seconds // 86_400} days"
    return (
        f"visibility timeout {spec.visibility_timeout}s, DLQ {spec.redrive.dead_letter_queue} "
        f"after {spec.redrive.max_receive_count} receives"
    )
