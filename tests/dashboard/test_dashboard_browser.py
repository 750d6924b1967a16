"""``tayori dashboard`` in a real headless Chromium, as an operator uses it.

A fresh project directory, the installed ``tayori`` command for every step: the dashboard
starts first, ``tayori send`` queues a broadcast whose template has a bug for three
recipients, ``tayori worker`` drains it. The page must draw the queue-depth chart and
keep updating it while the broadcast drains, show the three dead letters with their
reason, redrive one by a click once the template is fixed, re-send the other two with
"Retry failed", and refuse a POST without the CSRF token. Debian's chromium is required:
without it the test fails (CI installs it in .ci/run), it never skips.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OPERATIONS_DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
RECIPIENTS = 1000
BROKEN = 3  # the last recipients lack the variable the template needs


def _doc_blocks() -> list[list[str]]:
    """The ``sh`` blocks of the Dashboard section of docs/operations.md, as lines."""
    text = OPERATIONS_DOC.read_text()
    section = text.split("## Dashboard", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```sh\n")[1:]
    return [[ln for ln in b.split("```", 1)[0].splitlines() if ln.strip()] for b in blocks]


def _doc_run() -> dict[str, list[str]]:
    """The walk-through's commands, by subcommand: the test runs exactly these (plus a
    free port, a faster sample interval and --json, which do not change what they do).
    """
    install, run = _doc_blocks()
    assert install == ["pip install 'tayori[dashboard]'"]
    commands = [shlex.split(line) for line in run]
    assert [c[:2] for c in commands] == [
        ["tayori", "dashboard"],
        ["tayori", "send"],
        ["tayori", "worker"],
    ]
    return {c[1]: c for c in commands}


def test_the_documented_extra_holds_the_dashboard_dependencies() -> None:
    _doc_run()
    pyproject = tomllib.loads((OPERATIONS_DOC.parents[1] / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["dashboard"]
    assert {re.split(r"[<>=\[]", d)[0] for d in extra} == {
        "starlette",
        "uvicorn",
        "python-multipart",
    }
    data = pyproject["tool"]["setuptools"]["package-data"]["tayori"]
    assert "**/*.js" in data and "**/*.css" in data and "**/*.html" in data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "TAYORI_URL": "sqlite:///./.tayori",
    }


def _tayori(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["tayori", *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=60
    )


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _wait(what: str, check, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}", pytrace=False)


def _stop(proc: subprocess.Popen[str], name: str) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            pytest.fail(f"{name} did not stop on SIGINT", pytrace=False)
    return proc.stdout.read() if proc.stdout else ""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "notice.subject").write_text("Your code")
    (tmp_path / "templates" / "notice.txt").write_text("Hi {{ name }}, your code is {{ code }}.")
    with (tmp_path / "people.jsonl").open("w") as out:
        for i in range(RECIPIENTS):
            row = {"email": f"user{i:04d}@example.org", "name": f"User {i}"}
            if i < RECIPIENTS - BROKEN:
                row["code"] = f"C{i:04d}"
            out.write(json.dumps(row) + "\n")
    return tmp_path


@contextlib.contextmanager
def _serving(cwd: Path, env: dict[str, str]) -> Iterator[str]:
    """``tayori dashboard`` as documented, on a free port; its URL once it answers."""
    port = _free_port()
    proc = subprocess.Popen(
        [*_doc_run()["dashboard"], "--port", str(port), "--interval", "0.1"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"tayori dashboard exited: {proc.stdout.read()}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/api/metrics", timeout=1):
                return True
        except OSError:
            return False

    try:
        _wait("the dashboard to answer", up, timeout=30)
        yield url
    finally:
        _stop(proc, "tayori dashboard")


@pytest.fixture
def dashboard(project: Path) -> Iterator[str]:
    with _serving(project, _env()) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            yield chrome
        finally:
            chrome.close()


def _chart(page, queue: str = "mail") -> dict:
    return page.evaluate(
        """(name) => {
          const s = window.tayoriDashboard, q = s.queues[name];
          if (!q || !s.charts[name]) return null;
          const c = s.charts[name].depth;
          const ctx = c.ctx, w = c.ctx.canvas.width, h = c.ctx.canvas.height;
          const px = ctx.getImageData(0, 0, w, h).data;
          let inked = 0;
          for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0) inked++;
          const total = q.total.filter(v => v != null);
          return {updates: s.updates, points: c.data[0].length, inked: inked,
                  max: Math.max(0, ...total), last: total[total.length - 1],
                  mountain: total.filter(v => v >= 10).length};
        }""",
        queue,
    )


def test_dashboard_in_chromium(project: Path, dashboard: str, browser, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations
    problems: list[str] = []  # script errors, and anything the CSP blocked
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(dashboard)
    page.wait_for_selector("#no-queues")

    sent = _tayori(project, *_doc_run()["send"][1:], "--json")
    assert sent.returncode == 0, sent.stderr
    bid = json.loads(sent.stdout)["broadcast_id"]
    page.wait_for_selector('section.queue[data-queue="mail"] .depth canvas', timeout=15_000)

    worker = subprocess.Popen(
        _doc_run()["worker"],
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # while it drains: the page shows the sends in the queue (the fan-out alone is 1)
        during = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = _chart(page)
            if seen and seen["last"] is not None and seen["last"] >= 10:
                during.append(seen)
            metrics = _get_json(f"{dashboard}/api/metrics")
            if metrics["mail"].get("sent", 0) + metrics["mail"].get("failed", 0) >= RECIPIENTS:
                break
            time.sleep(0.1)
        assert metrics["mail"]["sent"] == RECIPIENTS - BROKEN, metrics
        assert metrics["mail"]["failed"] == BROKEN, metrics
        assert during, "the page never showed the queue with the broadcast's sends in it"
        # ... and kept updating until it drained: the mountain, then zero
        drained = _wait(
            "the chart to show the queue drained",
            lambda: (c := _chart(page))["last"] == 0 and c,
            timeout=20,
        )
        assert drained["points"] > during[0]["points"], (during[0], drained)
        assert drained["mountain"] >= 2 and drained["max"] >= 50, drained
        print(f"chart while draining: {during[0]}; drained: {drained}")
        assert drained["inked"] > 1000, "the depth chart drew nothing"
        page.wait_for_selector(f'tr[data-broadcast="{bid}"] td.failed:text-is("{BROKEN}")')
        page.screenshot(path=str(tmp_path / "dashboard-drained.png"), full_page=True)

        # the dead letters, with their reason (an outcome is recorded just before its
        # message is dead-lettered: wait for the DLQ itself)
        _wait(
            "the dead letters",
            lambda: _get_json(f"{dashboard}/api/metrics")["queues"]["mail"]["dlq_depth"] == BROKEN,
        )
        page.click('section.queue[data-queue="mail"] button.browse-dlq')
        rows = page.locator("table.letters tbody tr")
        rows.first.wait_for(timeout=10_000)
        assert rows.count() == BROKEN
        reasons = page.locator("table.letters td.reason").all_inner_texts()
        assert all("TemplateError" in r and "'code' is undefined" in r for r in reasons), reasons
        assert page.locator("table.letters td.task").all_inner_texts() == ["mail.send"] * BROKEN
        page.screenshot(path=str(tmp_path / "dashboard-dlq.png"), full_page=True)

        # a POST without the CSRF token is refused, and nothing is purged
        refused = page.request.post(f"{dashboard}/queues/mail/dlq/purge")
        assert refused.status == 403, refused.text()
        wrong = page.request.post(
            f"{dashboard}/queues/mail/dlq/purge", headers={"X-CSRF-Token": "x" * 43}
        )
        assert wrong.status == 403
        assert page.request.get(f"{dashboard}/queues/mail/dlq/purge").status == 405
        # ... also from the page itself: a forged token on the Purge button's request
        page.evaluate(
            """() => { const b = document.body; b.dataset.saved = b.getAttribute("hx-headers");
                       b.setAttribute("hx-headers", '{"X-CSRF-Token": "forged"}'); }"""
        )
        page.click("button.purge")
        page.wait_for_selector('#flash:text("403: missing or wrong CSRF token")')
        page.evaluate("() => document.body.setAttribute('hx-headers', document.body.dataset.saved)")
        assert page.locator("table.letters tbody tr").count() == BROKEN
        assert _get_json(f"{dashboard}/api/metrics")["queues"]["mail"]["dlq_depth"] == BROKEN

        # fix the template, redrive one dead letter by a click: it is sent this time
        (project / "templates" / "notice.txt").write_text(
            "Hi {{ name }}, your code is {{ code | default('on its way') }}."
        )
        first = rows.first.get_attribute("data-message-id")
        page.check(f'input[name="id"][value="{first}"]')
        page.click("button.redrive-selected")
        page.wait_for_selector('.dlq .note:text("moved 1 message(s)")')
        assert page.locator("table.letters tbody tr").count() == BROKEN - 1
        _wait(
            "the redriven recipient to be sent",
            lambda: _get_json(f"{dashboard}/api/metrics")["mail"]["sent"] == RECIPIENTS - 2,
        )

        # "Retry failed" re-sends the other two, and only them
        page.click(f'tr[data-broadcast="{bid}"] button.show-failed')
        page.wait_for_selector(".failed table")
        assert page.locator(".failed tbody tr").count() == BROKEN - 1
        page.click("button.retry-failed")
        page.wait_for_selector('.failed .note:text("2 of 2 failed recipients re-queued")')
        _wait(
            "every recipient to be sent",
            lambda: _get_json(f"{dashboard}/api/metrics")["mail"]["sent"] == RECIPIENTS,
        )
        page.wait_for_selector(f'tr[data-broadcast="{bid}"] td.sent:text-is("{RECIPIENTS}")')
        page.wait_for_selector(f'tr[data-broadcast="{bid}"] td.failed:text-is("0")')
        page.wait_for_selector(f'tr[data-broadcast="{bid}"] td.pending:text-is("0")')
        page.wait_for_selector(f'[data-counter="mail.sent"]:text-is("{RECIPIENTS}")')
        # the worker's own counters, published for the dashboard: 1 fan-out + one send per recipient
        workers = _wait(
            "the worker's counters",
            lambda: (
                (w := _get_json(f"{dashboard}/api/metrics")["workers"])["total"]["succeeded"]
                == RECIPIENTS + 1
                and w
            ),
        )
        assert workers["live"] == 1 and workers["total"]["dead_lettered"] == BROKEN, workers
        by_task = workers["tasks"]
        assert by_task["mail.fanout"]["succeeded"] == 1, by_task
        assert by_task["mail.send"]["succeeded"] == RECIPIENTS, by_task
        assert by_task["mail.send"]["dead_lettered"] == BROKEN, by_task
        page.wait_for_selector('[data-counter="workers.live"]:text-is("1")')
        page.wait_for_selector(
            f'#task-counters tr[data-task="mail.send"] td:nth-child(2):text-is("{RECIPIENTS}")'
        )
        row = page.locator('#task-counters tr[data-task="mail.send"] td')
        assert row.all_inner_texts() == ["mail.send", str(RECIPIENTS), "0", str(BROKEN), "0"]
        page.wait_for_selector(
            f'[data-counter="workers.total.succeeded"]:text-is("{RECIPIENTS + 1}")'
        )
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        print(f"screenshots: {sorted(str(p) for p in tmp_path.glob('*.png'))}")
    finally:
        log = _stop(worker, "tayori worker")
    assert problems == []
    stopped = _get_json(f"{dashboard}/api/metrics")["workers"]
    assert stopped["live"] == 0 and stopped["total"]["succeeded"] == RECIPIENTS + 1, stopped
    outbox = list((project / ".tayori" / "outbox").glob("*.eml"))
    assert len(outbox) == RECIPIENTS, log[-2000:]  # one copy each, never a second


def test_dashboard_in_chromium_on_aws(moto_url: str, browser, tmp_path: Path) -> None:
    """The same page on the AWS backend (a moto server): the chart and a dead letter's
    reason, redriven by a click."""
    from tayori.backends import open_backend
    from tayori.backends.base import Attribute, QueueSpec, RedrivePolicy
    from tayori.settings import Settings
    from tayori.wire.envelope import Envelope

    env = {**_env(), "TAYORI_URL": "aws://?region=us-east-1", "TAYORI_ENDPOINT_URL": moto_url}
    backend = open_backend(Settings(url=env["TAYORI_URL"], endpoint_url=moto_url))
    dlq = backend.create_queue("orders-dlq")
    orders = backend.create_queue("orders", QueueSpec(redrive=RedrivePolicy("orders-dlq", 3)))
    orders.send(Envelope.new("orders.ship", {"id": 1}).to_json())
    reason = {"tayori-error": Attribute.string("ValueError: no address for order 2")}
    dlq.send(Envelope.new("orders.ship", {"id": 2}).to_json(), reason)
    with _serving(tmp_path, env) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(url)
        page.wait_for_selector('section.queue[data-queue="orders"] .depth canvas')
        _wait("the chart to show the queue", lambda: (_chart(page, "orders") or {}).get("last"))
        page.click('section.queue[data-queue="orders"] button.browse-dlq')
        page.wait_for_selector("table.letters td.reason")
        assert page.locator("table.letters td.task").all_inner_texts() == ["orders.ship"]
        assert "no address for order 2" in page.locator("table.letters td.reason").inner_text()
        page.check('table.letters input[name="id"]')
        page.click("button.redrive-selected")
        page.wait_for_selector('.dlq .note:text("moved 1 message(s)")')
        page.screenshot(path=str(tmp_path / "dashboard-aws.png"), full_page=True)
    assert orders.stats().visible == 2 and dlq.stats().total == 0
