"""``manage.py tayori worker|status|dlq|send|setup ...``: the ``tayori`` CLI, with Django set up.

Arguments go to the ``tayori`` command unchanged; where a command takes ``--app`` and
none is given, the project's App (or, for ``send``, its Mailer) from ``settings.TAYORI``
is passed, so ``manage.py tayori worker`` runs every task the installed apps define.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

APP_REF = "tayori.contrib.django.entry:app"
MAILER_REF = "tayori.contrib.django.entry:mailer"


def cli_args(argv: list[str]) -> list[str]:
    """``argv`` with ``--app`` added after the (sub)command when it takes one and has none."""
    import typer.main

    from tayori.cli import app as cli

    if any(a == "--app" or a.startswith("--app=") for a in argv):
        return argv
    command: Any = typer.main.get_command(cli)
    path: list[str] = []
    at = 0
    for i, word in enumerate(argv):  # descend through groups: ``dlq list`` is two words
        if word.startswith("-"):
            continue
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command, at = sub, i + 1
        path.append(word)
    if not path or not any("--app" in getattr(p, "opts", ()) for p in command.params):
        return argv
    ref = MAILER_REF if path == ["send"] else APP_REF
    return [*argv[:at], "--app", ref, *argv[at:]]


class Command(BaseCommand):
    help = "tayori's command line (worker, status, dlq, send, setup, ...) for this project"

    def run_from_argv(self, argv: list[str]) -> None:
        # argv is [manage.py, "tayori", ...]: the rest belongs to tayori's own parser
        self._run(argv[2:])

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("args", nargs=argparse.REMAINDER)

    def handle(self, *args: str, **options: Any) -> None:  # call_command("tayori", ...)
        self._run(list(args))

    def _run(self, argv: list[str]) -> None:
        from tayori.cli import app as cli

        try:
            cli(args=cli_args(argv), prog_name="manage.py tayori", standalone_mode=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if code:
                raise SystemExit(code) from None
        except Exception as exc:  # pragma: no cover - the CLI turns errors into exits
            raise CommandError(str(exc)) from exc
