"""CLI defects a new user hits on day one, each run as the user runs it (installed command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from tayori.cli import app as cli_app

TASKS = """
import tayori

app = tayori.App("myapp")

@app.task(queue="work", idempotency_key="n")
def work(payload):
    if "why" in payload:
        raise tayori.PermanentError(payload["why"])
"""
NASTY = "bad \x1b[31mred\x1b]0;pwned\x07 \u202eevil\x9b2J end"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAYORI_")}
    env["TAYORI_URL"] = "sqlite:///./.tayori"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def tayori(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["tayori", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,  # not a terminal, as in CI or a cron job
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "tasks.py").write_text(TASKS)
    return tmp_path


def _send(project: Path, *payloads: dict) -> None:
    script = f"from myapp.tasks import work; work.send_many({list(payloads)!r})"
    subprocess.run([sys.executable, "-c", script], cwd=project, env=_env(), check=True)


def _one_line(out: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


@pytest.mark.parametrize(
    "var,value,needle",
    [
        ("TAYORI_URL", "postgres://x", "TAYORI_URL='postgres://x'"),
        ("TAYORI_VISIBILITY_TIMEOUT", "abc", "whole seconds, 0-43200"),
        ("TAYORI_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("TAYORI_MAX_RECEIVE_COUNT", "0", "TAYORI_MAX_RECEIVE_COUNT"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_exit_2(
    project: Path, var: str, value: str, needle: str
) -> None:
    commands = [["status"], ["worker", "--app", "myapp.tasks:app"]]
    if var != "TAYORI_URL":  # the demo runs in a store of its own, whatever TAYORI_URL says
        commands.append(["demo", "-n", "5"])
    for args in commands:
        line = _one_line(tayori(project, *args, **{var: value}))
        assert var in line and needle in line, line


def test_allowed_buckets_is_a_comma_list_and_log_level_any_case(project: Path) -> None:
    script = "import tayori; s = tayori.Settings(); print(sorted(s.readable_buckets), s.log_level)"
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(TAYORI_ALLOWED_BUCKETS="a, b", TAYORI_LOG_LEVEL="info"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["['a',", "'b',", "'tayori']", "INFO"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["worker", "--bogus"], "No such option: --bogus"),
        (["demo", "-n", "abc"], "--recipients"),
        (["worker", "--processes", "0"], "--processes"),
        (["dlq", "list"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_line_exit_2(project: Path, args: list[str], needle: str) -> None:
    assert needle in _one_line(tayori(project, *args))


def test_read_only_commands_never_create_a_store(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    for args in (["status"], ["dlq", "list", "work"], ["broadcast", "failed", "b1"]):
        line = _one_line(tayori(tmp_path, *args, TAYORI_URL=f"sqlite:///{missing}"))
        assert "no tayori store" in line or "no mail store" in line, line
    assert not missing.parent.exists()
    assert not (tmp_path / ".tayori").exists()


def test_worker_refuses_a_queue_no_task_uses_unless_create(project: Path) -> None:
    line = _one_line(tayori(project, "worker", "--app", "myapp.tasks:app", "--queue", "typo"))
    assert "typo" in line and "work" in line and "--create" in line
    _send(project, {"n": 1})
    status = json.loads(tayori(project, "status", "--json").stdout)
    assert [q["queue"] for q in status["queues"]] == ["work"]
    out = tayori(
        project, "worker", "--app", "myapp.tasks:app", "-q", "typo", "--create", "--until-idle"
    )
    assert out.returncode == 0, out.stderr
    status = json.loads(tayori(project, "status", "--json").stdout)
    assert sorted(q["queue"] for q in status["queues"]) == ["typo", "work"]


def test_default_settings_do_not_warn_on_worker_start(project: Path) -> None:
    from tayori.runtime.esm import check_visibility_timeout
    from tayori.runtime.local import RuntimeConfig
    from tayori.settings import Settings

    defaults = RuntimeConfig()
    timeout = Settings().visibility_timeout
    assert check_visibility_timeout("q", timeout, defaults.function_timeout, 0) is None
    _send(project, {"n": 1})
    out = tayori(project, "worker", "--app", "myapp.tasks:app", "--until-idle")
    assert out.returncode == 0, out.stderr
    assert "visibility timeout" not in out.stderr, out.stderr
    assert '"level"' not in out.stderr, out.stderr  # no warning of any kind


def test_worker_prints_a_readable_summary_and_json_on_exit(project: Path) -> None:
    _send(project, {"n": 1}, {"n": 2}, {"n": 3, "why": "bad"})
    out = tayori(project, "worker", "--app", "myapp.tasks:app", "--until-idle")
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("tayori worker stopped after ") and "3 records" in last, out.stderr
    assert "2 succeeded, 1 dead-lettered" in last
    assert "{" not in last
    _send(project, {"n": 3})
    out = tayori(project, "worker", "--app", "myapp.tasks:app", "--until-idle", "--json")
    report = json.loads(out.stdout)
    assert report["total"]["records"] == 1 and report["total"]["deleted"] == 1
    assert report["total"]["succeeded"] == 1 and report["processes"][0]["handler"]["failed"] == 0


def test_status_json_has_the_workers_counters(project: Path) -> None:
    _send(project, {"n": 1}, {"n": 2, "why": "no"})
    tayori(project, "worker", "--app", "myapp.tasks:app", "--until-idle")
    out = tayori(project, "status", "--json")
    assert out.returncode == 1  # a dead letter
    workers = json.loads(out.stdout)["workers"]
    assert workers["live"] == 0 and len(workers["workers"]) == 1
    assert workers["workers"][0]["stopped"] is True
    assert workers["tasks"]["work"]["dead_lettered"] == 1
    counters = workers["total"]
    assert counters["succeeded"] == 1 and counters["dead_lettered"] == 1
    assert counters["records"] == 2
    human = tayori(project, "status")
    assert "dead lettered 1" in human.stdout


def test_status_watch_refreshes(project: Path) -> None:
    _send(project, {"n": 1})
    out = tayori(project, "status", "--watch", "--interval", "0.2", "--count", "3", "--json")
    assert out.returncode == 0, out.stderr
    snapshots = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(snapshots) == 3
    assert snapshots[0]["at"] < snapshots[2]["at"]
    assert all(s["queues"][0]["visible"] == 1 for s in snapshots)


def test_dlq_list_escapes_control_characters_and_shows_the_task(project: Path) -> None:
    _send(project, {"n": 1, "why": NASTY})
    tayori(project, "worker", "--app", "myapp.tasks:app", "--until-idle")
    for env in ({}, {"NO_COLOR": "1"}):
        out = tayori(project, "dlq", "list", "work", "--wide", COLUMNS="300", **env)
        assert out.returncode == 0, out.stderr
        for forbidden in ("\x1b", "\x07", "\u202e", "\x9b"):
            assert forbidden not in out.stdout and forbidden not in out.stderr
        # C0 controls may already be dropped from the reason when it is dead-lettered;
        # whatever is left is shown escaped
        assert "\\x1b[31mred" in out.stdout or "bad red" in out.stdout
        assert "\\u202eevil" in out.stdout and "\\x9b2J" in out.stdout
        assert "work" in out.stdout.split("\n", 3)[-1]  # the task column
        assert "receive count" in out.stderr
    data = json.loads(tayori(project, "dlq", "list", "work", "--json").stdout)
    (letter,) = data["messages"]
    assert letter["task"] == "work" and letter["error"].startswith("bad ")
    short = tayori(project, "dlq", "list", "work", COLUMNS="300").stdout
    assert (
        letter["message_id"]
        in tayori(project, "dlq", "list", "work", "--wide", COLUMNS="300").stdout
    )
    assert letter["message_id"] not in short and letter["message_id"][:8] in short


def test_dlq_purge_needs_yes_without_a_terminal(project: Path) -> None:
    _send(project, {"n": 1, "why": "x"})
    tayori(project, "worker", "--app", "myapp.tasks:app", "--until-idle")
    assert "--yes" in _one_line(tayori(project, "dlq", "purge", "work"))
    assert "--yes" in _one_line(tayori(project, "dlq", "purge", "work", "--json"))
    assert json.loads(tayori(project, "status", "--json").stdout)["queues"][0]["dlq_depth"] == 1
    out = tayori(project, "dlq", "purge", "work", "--yes", "--json")
    assert json.loads(out.stdout) == {"dlq": "work-dlq", "purged": 1}


def test_version_and_python_dash_m(tmp_path: Path) -> None:
    import tayori as pkg

    out = tayori(tmp_path, "--version")
    assert out.returncode == 0 and out.stdout.strip() == f"tayori {pkg.__version__}"
    out = subprocess.run(
        [sys.executable, "-m", "tayori", "--version"], capture_output=True, text=True, env=_env()
    )
    assert out.returncode == 0 and out.stdout.strip() == f"tayori {pkg.__version__}"
    out = subprocess.run(
        [sys.executable, "-m", "tayori", "status"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "no tayori store" in out.stderr


def _options(command: object, path: str = "tayori") -> list[tuple[str, object]]:
    found = []
    for param in getattr(command, "params", []):
        if param.param_type_name == "option" and param.name not in ("help", "version"):
            found.append((f"{path} {param.opts[0]}", param))
    for name, sub in getattr(command, "commands", {}).items():
        found += _options(sub, f"{path} {name}")
    return found


def test_every_option_has_a_description_and_time_options_their_unit() -> None:
    options = _options(typer.main.get_command(cli_app))
    assert len(options) > 40
    missing = [name for name, p in options if not (getattr(p, "help", "") or "").strip()]
    assert missing == []
    timed = ("timeout", "window", "latency", "interval", "rate", "wait")
    no_unit = [
        name
        for name, p in options
        if any(t in name for t in timed)
        and not any(u in p.help for u in ("second", " s ", "s,", " ms", "/s", "per second"))
    ]
    assert no_unit == []


def test_readme_settings_table_matches_the_defaults() -> None:
    import re

    from tayori.settings import Settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = re.findall(r"^\| `TAYORI_(\w+)` \| `([^`]*)` \|", readme, re.M)
    assert len(rows) >= 7  # the variables with a default (others show —)
    defaults = Settings()
    for name, shown in rows:
        assert str(getattr(defaults, name.lower())) == shown, name


def test_every_setting_says_what_it_accepts() -> None:
    from tayori.settings import ACCEPTS, Settings

    assert set(Settings.model_fields) == set(ACCEPTS)
