"""Group commit in the SQLite store: many threads share transactions, yet each statement
is committed (visible to another connection) before its own caller returns."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from tayori.backends.sqlite import db as dbmod
from tayori.backends.sqlite.db import Database
from tayori.errors import QueueUnavailable

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)"


def test_each_statement_is_committed_before_its_caller_returns(tmp_path: Path) -> None:
    path = str(tmp_path / "g.db")
    store = Database(path, SCHEMA)
    groups: list[int] = []
    commit = store._commit_group

    def counting(group: list) -> None:
        groups.append(len(group))
        commit(group)

    store._commit_group = counting  # type: ignore[method-assign]
    errors: list[str] = []
    barrier = threading.Barrier(20)

    def work(worker: int) -> None:
        other = sqlite3.connect(path)  # an outside connection: sees only committed rows
        barrier.wait()
        for i in range(50):
            key = f"{worker}-{i}"
            if store.execute("INSERT INTO t (k, n) VALUES (?, ?)", (key, i)) != 1:
                errors.append(f"{key}: row count")
            if other.execute("SELECT n FROM t WHERE k = ?", (key,)).fetchone() != (i,):
                errors.append(f"{key}: not committed when execute returned")
            changed = store.execute("UPDATE t SET n = n + 1 WHERE k = ?", (key,))
            if changed != 1:
                errors.append(f"{key}: update row count {changed}")
        other.close()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.query_one("SELECT COUNT(*), SUM(n) FROM t") == (1000, 20 * sum(range(1, 51)))
    assert sum(groups) == 2000
    assert max(groups) > 1, "20 threads never shared a transaction"
    store.close()


def test_a_failing_statement_fails_alone_in_its_group(tmp_path: Path) -> None:
    store = Database(str(tmp_path / "g.db"), SCHEMA)
    store.execute("INSERT INTO t (k, n) VALUES ('dup', 0)")
    results: dict[str, object] = {}
    gate = threading.Lock()
    gate.acquire()
    hold = store._commit_group

    def slow_first(group: list) -> None:  # the first group waits, so the rest queue up
        if not results:
            results["first"] = len(group)
            with gate:
                pass
        hold(group)

    store._commit_group = slow_first  # type: ignore[method-assign]

    def run(name: str, sql: str, params: tuple) -> None:
        try:
            results[name] = store.execute(sql, params)
        except QueueUnavailable as exc:
            results[name] = exc

    first = threading.Thread(target=run, args=("a", "INSERT INTO t VALUES (?, ?)", ("a", 1)))
    first.start()
    while "first" not in results:
        threading.Event().wait(0.001)
    others = [
        threading.Thread(target=run, args=("dup", "INSERT INTO t VALUES (?, ?)", ("dup", 1))),
        threading.Thread(target=run, args=("b", "INSERT INTO t VALUES (?, ?)", ("b", 2))),
    ]
    for t in others:
        t.start()
    while len(store._pending) < 2:
        threading.Event().wait(0.001)
    gate.release()
    for t in [first, *others]:
        t.join(10)
    assert results["a"] == 1 and results["b"] == 1
    assert isinstance(results["dup"], QueueUnavailable)
    assert "UNIQUE" in str(results["dup"])
    assert store.query_one("SELECT COUNT(*) FROM t") == (3,)  # dup, a, b
    store.close()


def test_a_forked_child_gets_its_own_writer(tmp_path: Path) -> None:
    import os

    store = Database(str(tmp_path / "g.db"), SCHEMA)
    store.execute("INSERT INTO t VALUES ('parent', 1)")
    pid = os.fork()
    if pid == 0:  # the child: a fresh writer, never the parent's connection or locks
        code = 0
        try:
            store.execute("INSERT INTO t VALUES ('child', 2)")
            assert store._writer_conn is not None and dbmod._FORK_ORPHANS
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.execute("INSERT INTO t VALUES ('parent2', 3)")
    assert store.query_one("SELECT COUNT(*) FROM t") == (3,)
    store.close()


@pytest.mark.parametrize("n", [1, 3])
def test_errors_are_tayori_errors(tmp_path: Path, n: int) -> None:
    store = Database(str(tmp_path / "g.db"), SCHEMA)
    with pytest.raises(QueueUnavailable):
        for _ in range(n):
            store.execute("INSERT INTO missing VALUES (1)")
    store.close()
