"""The layers stay one-way (producer -> codec -> queue -> runtime -> handler -> task), and
each piece is built and tested without an ``App`` (issue 9)."""

from __future__ import annotations

import ast
import json
import threading
from pathlib import Path

import tayori
from tayori.backends.sqlite import SqliteBackend
from tayori.consumer import Handler
from tayori.registry import Registry, TaskDef
from tayori.runtime.local import LocalRuntime, RuntimeConfig, Source
from tayori.settings import Settings
from tayori.wire import ClaimCheck, Envelope, TayoriCodec

SRC = Path(tayori.__file__).parent
# modules that compose the pieces (and so may import App): the top of the graph
COMPOSERS = (
    "tayori",
    "tayori.app",
    "tayori.cli",
    "tayori.demo",
    "tayori.contrib",
    "tayori.mail.default",
    "tayori.testing",
    "tayori.dashboard",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(module-level imports, all imports incl. lazy ones) of tayori modules; imports
    under ``if TYPE_CHECKING:`` are not edges."""
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    every: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    module_level = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tayori"):
            names = [node.module]
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("tayori")]
        found = {n for n in names if _exists(n)}
        every |= found
        if id(node) in module_level:
            top |= found
    return top, every


def _exists(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC.parent / rel).with_suffix(".py").exists() or (SRC.parent / rel).is_dir()


def _graph() -> dict[str, tuple[set[str], set[str]]]:
    return {_module_name(p): _imports(p) for p in SRC.rglob("*.py")}


def test_nothing_below_app_imports_app() -> None:
    offenders = {
        mod: sorted(i for i in every if i == "tayori.app" or i == "tayori.App")
        for mod, (_, every) in _graph().items()
        if not mod.startswith(COMPOSERS) or mod == "tayori"
    }
    offenders = {m: i for m, i in offenders.items() if i and m != "tayori"}
    assert offenders == {}


def test_module_level_imports_have_no_cycle() -> None:
    graph = {m: {i for i in top if i != m} for m, (top, _) in _graph().items()}
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            # an edge into a package's own submodule from its __init__ is how packages work
            if nxt.startswith(node + "."):
                continue
            if seen.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node)
    assert cycles == []


def test_no_module_above_backends_knows_sqlite_internals() -> None:
    users = sorted(
        mod
        for mod, (_, every) in _graph().items()
        if any(i.startswith("tayori.backends.sqlite.db") for i in every)
        and not mod.startswith(("tayori.backends.sqlite", "tayori.testing"))
    )
    assert users == []


def test_a_handler_is_built_and_run_without_an_app(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "store")
    settings = Settings(url=f"sqlite:///{tmp_path / 'store'}")
    registry = Registry("bare")
    ran: list[dict] = []
    registry.add(TaskDef(ran.append, "record", "jobs", "n"))
    claim = ClaimCheck(backend.blob_store, "tayori", 262_144, frozenset())
    codec = TayoriCodec(claim)
    handler = Handler(registry, codec, backend, settings, claim)
    queue = backend.create_queue("jobs")
    for n in (1, 2, 1):  # the third is a duplicate by business key
        out = codec.encode(Envelope.new("record", {"n": n}))
        queue.send(out.body, out.attributes)
    messages = queue.receive(10, 0)
    event = {"Records": [m.to_lambda_record(queue.arn, "local") for m in messages]}
    assert handler(event) == {"batchItemFailures": []}
    assert sorted(p["n"] for p in ran) == [1, 2]
    assert handler.counters.snapshot()["duplicates_skipped"] == 1


def test_the_runtime_runs_a_plain_function(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "store")
    queue = backend.create_queue("plain")
    for i in range(25):
        queue.send(json.dumps({"i": i}))
    seen: list[int] = []
    lock = threading.Lock()

    def handler(event: dict, context: object) -> dict:
        with lock:
            seen.extend(json.loads(r["body"])["i"] for r in event["Records"])
        assert context.get_remaining_time_in_millis() > 0  # type: ignore[attr-defined]
        return {"batchItemFailures": []}

    runtime = LocalRuntime(
        Source(queues=(queue,), handler=handler, function_name="plain"),
        RuntimeConfig(concurrency=2, poll_wait_seconds=0),
    )
    stats = runtime.run_until_idle(timeout=30)
    assert stats.idle and sorted(seen) == list(range(25))
    assert queue.stats().total == 0


def test_importing_the_default_mailer_creates_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import tayori.mail.default as d; import os; print(sorted(os.listdir('.')))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    code = "import tayori.mail.default as d; print(d.app.name, type(d.mailer).__name__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["tayori-mail", "Mailer"]
