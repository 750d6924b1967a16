"""What the tasks did, one JSON line per effect in $PROJ_EFFECTS (threads and processes)."""

import json
import os


def effect(kind: str, **fields: object) -> None:
    line = json.dumps({"kind": kind, **fields}, default=str) + "\n"
    with open(os.environ["PROJ_EFFECTS"], "a", encoding="utf-8") as out:
        out.write(line)


def effects(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
