"""Recipient sources, streamed: a list, an iterator, a CSV file or a JSON-lines file.

Each recipient becomes ``{"email": addr, **per-recipient variables}``. Files are read
line by line, so a list of a million addresses never sits in memory at once.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tayori.errors import BadRecipients

Recipient = dict[str, Any]


def normalise(item: str | Mapping[str, Any]) -> Recipient:
    if isinstance(item, str):
        return {"email": item.strip()}
    if isinstance(item, Mapping):
        email = item.get("email") or item.get("address")
        if not isinstance(email, str) or not email.strip():
            raise BadRecipients(f"recipient {dict(item)!r:.80} has no 'email'")
        return {**{k: v for k, v in item.items() if k != "address"}, "email": email.strip()}
    raise BadRecipients(f"recipient must be an address or a mapping, got {type(item).__name__}")


def iter_recipients(source: Iterable[str | Mapping[str, Any]]) -> Iterator[Recipient]:
    for item in source:
        yield normalise(item)


def read_file(path: str | os.PathLike[str]) -> Iterator[Recipient]:
    """CSV with an ``email`` column, or JSON lines (objects or strings), or one address a line."""
    p = Path(path)
    try:
        handle = p.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise BadRecipients(f"cannot read recipients file {p}: {exc.strerror or exc}") from None
    with handle:
        first = handle.readline()
        handle.seek(0)
        stripped = first.lstrip()
        if p.suffix.lower() in (".jsonl", ".ndjson", ".json") or stripped.startswith(("{", '"')):
            for n, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield normalise(json.loads(line))
                except ValueError:
                    raise BadRecipients(f"{p}:{n}: not a JSON line") from None
                except BadRecipients as exc:
                    raise BadRecipients(f"{p}:{n}: {exc}") from None
        elif "," in first or p.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "email" not in reader.fieldnames:
                raise BadRecipients(f"{p}: CSV needs a header row with an 'email' column")
            for row in reader:
                if row.get("email"):
                    yield normalise({k: v for k, v in row.items() if k is not None})
        else:
            for line in handle:
                if line.strip() and not line.lstrip().startswith("#"):
                    yield normalise(line)
