"""The dashboard's parts on the embedded backend: the sampler's bounded ring and its
series, the derived rates, "redrive selected", and the command's one-line errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tayori.backends.base import Attribute, QueueSpec, RedrivePolicy
from tayori.backends.sqlite import SqliteBackend
from tayori.cli import app as cli
from tayori.dashboard.deadletters import DeadLetters, redrive
from tayori.dashboard.metrics import rates
from tayori.dashboard.sampler import Sample, Sampler
from tayori.dashboard.sources import QueueRow, Sources
from tayori.runtime.counters import CountersFile, read_counters
from tayori.settings import Settings
from tayori.wire.envelope import Envelope


@pytest.fixture
def backend(tmp_path: Path) -> SqliteBackend:
    return SqliteBackend(tmp_path / "store")


def _sources(backend: SqliteBackend) -> Sources:
    return Sources(backend, Settings(url=f"sqlite:///{backend.directory}"))


def test_sampler_keeps_a_bounded_ring_and_pads_late_queues(backend: SqliteBackend) -> None:
    sampler = Sampler(_sources(backend), interval=0.1, capacity=4)
    backend.create_queue("a-dlq")
    a = backend.create_queue("a", QueueSpec(redrive=RedrivePolicy("a-dlq", 3)))
    for i in range(3):
        a.send(f"m{i}")
        assert sampler.sample_once() is not None
    backend.create_queue("b").send("x")  # appears after three samples
    sampler.sample_once()
    sampler.sample_once()
    series = sampler.series()
    assert len(series["t"]) == 4  # capacity, not 5
    assert series["queues"]["a"]["visible"] == [2, 3, 3, 3]
    assert series["queues"]["a"]["dlq_name"] == "a-dlq"
    assert series["queues"]["b"]["visible"] == [None, None, 1, 1]
    assert "a-dlq" not in series["queues"]
    newest = series["t"][-1]
    assert sampler.series(since=newest)["t"] == []
    assert sampler.series(since=series["t"][-2])["t"] == [newest]


def test_sampler_survives_a_failing_backend(backend: SqliteBackend) -> None:
    class Broken(Sources):
        def rows(self) -> list[QueueRow]:
            raise OSError("disk on fire")

    sampler = Sampler(Broken(backend, Settings()), interval=0.05)
    sampler.start()
    try:
        deadline = 50
        while sampler.errors < 2 and deadline:
            time.sleep(0.05)
            deadline -= 1
    finally:
        sampler.stop()
    assert sampler.errors >= 2 and "disk on fire" in (sampler.last_error or "")


def test_rates_are_per_second_over_the_window() -> None:
    def sample(at: float, depth: int, sent: int) -> Sample:
        return Sample(at, {"q": QueueRow("q", depth, 0, 0, None, 0)}, {"sent": sent})

    items = [sample(0, 100, 0), sample(5, 60, 40), sample(10, 0, 100), sample(20, 0, 100)]
    assert rates(items, window=15) == {"sent_per_s": 4.0, "failed_per_s": 0.0, "drain_per_s": 4.0}
    assert rates(items, window=10) == {"sent_per_s": 0.0, "failed_per_s": 0.0, "drain_per_s": 0.0}
    assert rates(items[:1])["sent_per_s"] == 0.0


def test_redrive_selected_moves_only_the_ticked_ids(backend: SqliteBackend) -> None:
    dlq = backend.create_queue("jobs-dlq")
    source = backend.create_queue("jobs", QueueSpec(redrive=RedrivePolicy("jobs-dlq", 3)))
    reason = {"tayori-error": Attribute.string("boom"), "keep": Attribute.string("me")}
    for n in range(12):
        dlq.send(Envelope.new("t", {"n": n}).to_json(), reason)
    letters = DeadLetters(backend, frozenset({"tayori"})).peek(dlq)
    assert len(letters) == 12 and {x.reason for x in letters} == {"boom"}
    assert {x.task for x in letters} == {"t"} and all(x.first_seen for x in letters)
    chosen = {letters[0].message_id, letters[11].message_id}
    assert redrive(dlq, source, chosen) == 2
    assert dlq.stats().total == 10 and dlq.stats().visible == 10  # the rest handed back
    moved = source.receive(10)
    assert len(moved) == 2
    assert all("tayori-error" not in m.attributes and "keep" in m.attributes for m in moved)
    assert redrive(dlq, source) == 10 and dlq.stats().total == 0


def test_missing_extra_is_one_line_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name)
    )
    out = CliRunner().invoke(cli, ["dashboard"])
    assert out.exit_code == 2
    assert (
        out.output.strip()
        == "tayori: the dashboard needs its extra: pip install 'tayori[dashboard]'"
    )


def test_bad_app_is_one_line_exit_2_from_the_command(tmp_path: Path) -> None:
    out = subprocess.run(
        ["tayori", "dashboard", "--app", "nomodule:app"],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("tayori: cannot import 'nomodule'")
    assert "Traceback" not in out.stderr


def test_a_port_or_host_it_cannot_listen_on_is_one_line_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for args, needle in (
            (["--port", port], f"cannot listen on 127.0.0.1:{port}: Address already in use"),
            (["--host", "no-such-host.invalid"], "cannot listen on no-such-host.invalid:8025"),
        ):
            out = CliRunner().invoke(cli, ["dashboard", *args])
            assert out.exit_code == 2, out.output
            assert out.output.startswith(f"tayori: {needle}") and out.output.count("\n") == 1


def test_worker_counters_files_live_stale_and_summed(tmp_path: Path) -> None:
    snap = {
        "runtime": {"invocations": 3, "records": 7},
        "handler": {"succeeded": 6, "failed": 1},
        "tasks": {"t": {"succeeded": 6, "failed": 1}},
    }
    first = CountersFile(tmp_path, lambda: snap, interval=0.05)
    first.start()
    try:
        seen = read_counters(tmp_path)
        assert seen["live"] == 1 and seen["total"]["succeeded"] == 6
        assert seen["total"]["invocations"] == 3 and seen["total"]["failed"] == 1
    finally:
        first.stop()
    dead = tmp_path / "counters" / "elsewhere-1.json"  # a killed process's last write
    dead.write_text(
        json.dumps(
            {
                "updated_at": time.time() - 60,
                "handler": {"succeeded": 4},
                "tasks": {"t": {"succeeded": 4}, "u": {"dead_lettered": 2}},
            }
        )
    )
    (tmp_path / "counters" / "torn.json").write_text("{not json")
    seen = read_counters(tmp_path)
    assert seen["live"] == 0 and len(seen["workers"]) == 2
    assert seen["total"]["succeeded"] == 10
    assert seen["tasks"]["t"] == {
        "succeeded": 10,
        "failed": 1,
        "dead_lettered": 0,
        "duplicates_skipped": 0,
    }
    assert seen["tasks"]["u"]["dead_lettered"] == 2


def test_a_loopback_dashboard_refuses_other_host_names(backend: SqliteBackend) -> None:
    """DNS rebinding: evil.example resolving to 127.0.0.1 still names the wrong host."""
    from starlette.testclient import TestClient

    from tayori.cli.dashboard import _web_app
    from tayori.dashboard.server import Config

    sources = _sources(backend)
    app = _web_app(Config(sources=sources, sampler=Sampler(sources)), "127.0.0.1")
    with TestClient(app, base_url="http://127.0.0.1:8025") as client:
        assert client.get("/api/metrics").status_code == 200
        assert client.get("/api/metrics", headers={"Host": "evil.example"}).status_code == 400
        assert client.get("/", headers={"Host": "localhost:8025"}).status_code == 200


def test_scan_looks_again_when_a_short_poll_comes_back_empty_early(
    backend: SqliteBackend,
) -> None:
    """SQS short polls sample some servers: an empty answer while messages are still
    visible is asked again as a long poll, not taken as the end of the DLQ."""
    from tayori.dlq_select import scan

    real = backend.create_queue("d")
    for n in range(15):
        real.send(f"m{n}")

    class Sampling:
        """The real queue, except that its second short poll finds nothing."""

        def __init__(self) -> None:
            self.short_polls = 0
            self.waits: list[int] = []

        def receive(self, n: int, wait: int, visibility: int) -> list:
            self.waits.append(wait)
            if wait == 0:
                self.short_polls += 1
                if self.short_polls == 2:
                    return []
            return real.receive(n, wait, visibility)

        def __getattr__(self, name: str):
            return getattr(real, name)

    sampling = Sampling()
    found = [m for batch in scan(sampling) for m in batch]
    assert len(found) == 15 and len({m.message_id for m in found}) == 15
    assert 1 in sampling.waits
    assert [m for batch in scan(real) for m in batch] == []  # all still held by the scan


def test_app_option_takes_a_mailer_and_uses_its_queue_task_and_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tayori.cli.dashboard import build_config

    (tmp_path / "dash_news_app.py").write_text(
        "import tayori\n"
        "from tayori.mail import Mailer, Templates\n"
        "from tayori.testing import MemoryTransport\n"
        f"app = tayori.App('news', settings=tayori.Settings(url='sqlite:///{tmp_path}/s'))\n"
        "mailer = Mailer(app, transport=MemoryTransport(), sender='n@example.com',\n"
        "                templates=Templates(sources={}), queue='news', prefix='news')\n"
    )
    monkeypatch.chdir(tmp_path)
    config = build_config("dash_news_app:mailer", 1.0)
    assert (config.mail_queue, config.send_task) == ("news", "news.send")
    mailer = sys.modules["dash_news_app"].mailer
    assert config.sources.mail_store() is mailer.store
    assert config.sources.backend is mailer.app.backend and config.history is None
    plain = build_config("dash_news_app:app", 1.0)  # an App: default mail names
    assert (plain.mail_queue, plain.send_task) == ("mail", "mail.send")
