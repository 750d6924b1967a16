"""The app every scenario runs: the real Mailer on the embedded backend, plus a plain task.

A worker process rebuilds it from a JSON config file (``HarnessConfig.load``), so the
harness and its worker processes agree on queues, timeouts and the transport.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reliability.recorder import (
    FaultPlan,
    FaultyTransport,
    PidStamp,
    Recorder,
    RecordingTransport,
)
from tayori.app import App
from tayori.mail.broadcast import Mailer
from tayori.mail.templates import Templates
from tayori.mail.transports.base import Transport
from tayori.runtime.esm import recommended_visibility_timeout
from tayori.runtime.local import RuntimeConfig
from tayori.settings import Settings

TEMPLATES = {
    "notice.subject": "News for {{ name }}",
    "notice.txt": "Hello {{ name }},\n\n{{ body }}\n",
}
SENDER = "news@example.com"
WORK_QUEUE = "work"


@dataclass(frozen=True)
class HarnessConfig:
    directory: str
    transport: str = "record"  # "record" | "smtp"
    smtp_port: int = 0
    latency: float = 0.0
    function_timeout: float = 2.0
    concurrency: int = 8
    max_receive_count: int = 8
    chunk_size: int = 500
    faults: dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def visibility_timeout(self) -> int:
        return recommended_visibility_timeout(self.function_timeout, 0)

    def save(self, path: str | Path) -> Path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(asdict(self)))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> HarnessConfig:
        return cls(**json.loads(Path(path).read_text()))

    def settings(self) -> Settings:
        return Settings(
            url=f"sqlite:///{Path(self.directory).resolve() / 'tayori'}",
            visibility_timeout=self.visibility_timeout,
            max_receive_count=self.max_receive_count,
        )

    def runtime(self) -> RuntimeConfig:
        return RuntimeConfig(
            concurrency=self.concurrency,
            initial_concurrency=min(5, self.concurrency),
            function_timeout=self.function_timeout,
            poll_wait_seconds=1,
        )


@dataclass
class Harness:
    config: HarnessConfig
    app: App
    mailer: Mailer
    recorder: Recorder
    transport: Transport
    work: Any  # the plain task: records its payload id as "accepted"


def build(config: HarnessConfig) -> Harness:
    recorder = Recorder(config.directory)
    app = App("reliability", settings=config.settings())
    transport: Transport
    if config.transport == "smtp":
        from tayori.mail.transports.smtp import SMTPConfig, SMTPTransport

        transport = PidStamp(SMTPTransport(SMTPConfig(port=config.smtp_port, timeout=10)))
    else:
        transport = RecordingTransport(recorder, config.latency)
    if config.faults:
        transport = FaultyTransport(transport, FaultPlan(**config.faults))
    mailer = Mailer(
        app,
        transport=transport,
        templates=Templates(sources=TEMPLATES),
        sender=SENDER,
        chunk_size=config.chunk_size,
        inline_limit=config.chunk_size,
    )

    @app.task(name="work", queue=WORK_QUEUE, idempotency_key="id")
    def work(payload: dict[str, Any]) -> None:
        if config.latency:
            import time

            time.sleep(config.latency)
        recorder.accept([str(payload["id"])])

    return Harness(config, app, mailer, recorder, transport, work)
