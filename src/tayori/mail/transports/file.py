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
        message_id = str(uuid.uuid4())
        tmp = self.directory / f".{message_id}.tmp"
        tmp.write_bytes(message.as_bytes())
        os.replace(tmp, self.directory / f"{message_id}.eml")  # readers never see half a file
        return message_id

    def close(self) -> None:
        pass
