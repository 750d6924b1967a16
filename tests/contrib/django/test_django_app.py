"""The Django app: settings from TAYORI, task autodiscovery, on_commit sends, manage.py tayori."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test.utils import override_settings

from tayori.contrib.django import conf, delay_on_commit, send_on_commit
from tayori.contrib.django.management.commands.tayori import APP_REF, MAILER_REF, cli_args
from tayori.errors import ConfigError
from tayori.runtime.local import RuntimeConfig


def test_settings_come_from_the_tayori_dict_only(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAYORI_BUCKET", "from-the-environment")
    monkeypatch.setenv("TAYORI_VISIBILITY_TIMEOUT", "99")
    with override_settings(TAYORI={"url": f"sqlite:///{tmp_path}", "VISIBILITY_TIMEOUT": 120}):
        s = conf.tayori_settings()
    assert s.url == f"sqlite:///{tmp_path}" and s.visibility_timeout == 120
    assert s.bucket == "tayori"  # the default, not the environment's


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"URLL": "sqlite:///x"}, "unknown keys"),
        ({"URL": "postgres://x"}, "settings.TAYORI"),
        ("sqlite:///x", "must be a dict"),
    ],
)
def test_bad_tayori_settings_are_one_clear_error(value: Any, message: str) -> None:
    with override_settings(TAYORI=value), pytest.raises(ConfigError, match=message):
        conf.tayori_settings()


def test_tasks_modules_of_installed_apps_are_discovered() -> None:
    tasks = sys.modules.get("tayori_testapp.tasks")
    assert tasks is not None, "AppConfig.ready() did not import tayori_testapp.tasks"
    assert "remember" in tasks.app.tasks
    tasks.remember.send({"n": 1})
    tasks.app.runtime(RuntimeConfig(poll_wait_seconds=0)).run_until_idle(timeout=30)
    assert {"n": 1} in tasks.seen


def _visible(app: Any, queue: str) -> int:
    return app.queue(queue).stats().total


def test_send_on_commit_waits_for_the_commit_and_skips_rollback(project: Any) -> None:
    app = conf.get_app()
    task = app.task(name="after_commit", queue="commits")(lambda payload: None)
    with transaction.atomic():
        send_on_commit(task, {"order": 1})
        delay_on_commit(task, {"order": 2})
        assert _visible(app, "commits") == 0  # not before the row is committed
    assert _visible(app, "commits") == 2
    with pytest.raises(RuntimeError), transaction.atomic():
        send_on_commit(task, {"order": 3})
        raise RuntimeError("roll back")
    assert _visible(app, "commits") == 2  # rolled back: never sent
    send_on_commit(task, {"order": 4})  # autocommit: at once
    assert _visible(app, "commits") == 3


def test_cli_args_add_the_project_app() -> None:
    assert cli_args(["worker", "-c", "2"]) == ["worker", "--app", APP_REF, "-c", "2"]
    assert cli_args(["--debug", "status"]) == ["--debug", "status", "--app", APP_REF]
    assert cli_args(["send", "-t", "x"])[:3] == ["send", "--app", MAILER_REF]
    assert cli_args(["worker", "--app", "mine:app"]) == ["worker", "--app", "mine:app"]
    assert cli_args(["plan", "--emails", "5"]) == ["plan", "--emails", "5"]  # takes no --app
    assert cli_args(["dlq", "list", "mail"]) == ["dlq", "list", "--app", APP_REF, "mail"]
    assert cli_args([]) == []


def test_manage_py_tayori_status_shows_the_projects_queues(project: Any, capsys) -> None:
    from django.core import mail

    mail.send_mail("S", "b", "f@example.com", ["t@example.com"])
    call_command("tayori", "status", "--json")
    data = json.loads(capsys.readouterr().out)
    assert "mail" in json.dumps(data)


def test_manage_py_tayori_bad_usage_exits_2(project: Any, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        call_command("tayori", "dlq", "list", "no-such-queue")
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    # one line: the queue does not exist, or (a fresh project) no store exists yet
    assert "\n" not in err and ("no-such-queue" in err or "no tayori store" in err), err
    with pytest.raises(SystemExit) as exc:  # arguments go to the tayori CLI unchanged
        call_command("tayori", "no-such-command")
    assert exc.value.code == 2


def test_test_mode_eager_sends_django_mail_at_once_into_memory() -> None:
    from django.core import mail

    with override_settings(TAYORI={"TEST_MODE": "eager"}):
        assert mail.send_mail("Hi", "body", "f@example.com", ["t@example.com"]) == 1
        (sent,) = conf.get_mailer().transport.sent  # delivered before send_mail returned
        assert sent.message["Subject"] == "Hi" and sent.recipients == ("t@example.com",)
        assert "tayori-test-" in conf.get_app().settings.url


def test_test_mode_memory_queues_until_drained() -> None:
    from django.core import mail

    from tayori.testing import drain, pending

    with override_settings(TAYORI={"TEST_MODE": "memory"}):
        mail.send_mail("Queued", "body", "f@example.com", ["t@example.com"])
        app = conf.get_app()
        assert [e.task for e in pending(app, "mail")] == ["mail.raw"]
        assert conf.get_mailer().transport.sent == []
        drain(app)
        assert conf.get_mailer().transport.sent[0].message["Subject"] == "Queued"


def test_the_lambda_entry_point_runs_the_projects_tasks(project: Any) -> None:
    from django.core import mail

    from tayori.contrib.django.entry import lambda_handler

    mail.send_mail("Via Lambda", "body", "f@example.com", ["t@example.com"])
    queue = conf.get_app().queue("mail")
    (message,) = queue.receive(max_messages=1)
    event = {"Records": [message.to_lambda_record(queue.arn, "us-east-1")]}
    assert lambda_handler(event, None) == {"batchItemFailures": []}
    (received,) = project.messages
    assert received.message["Subject"] == "Via Lambda"
