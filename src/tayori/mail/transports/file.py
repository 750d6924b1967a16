"""File transport for development: one ``.eml`` file per message, openable in any mail client."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tayori.mail.message import Message


class FileTransport:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def send(self, message: Message) -> str:
        return self.send_raw(message.envelope_sender, list(message.recipients), message.as_bytes())

    def send_raw(self, sender: str, recipients: list[str], data: bytes) -> str:
        """Write ``data`` as it is (the envelope is not kept: an .eml has no place for it)."""
        message_id = str(uuid.uuid4())
        tmp = self.directory / f".{message_id}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.directory / f"{message_id}.eml")  # readers never see half a file
        return message_id

    def close(self) -> None:
        pass
