"""A local SMTP server (aiosmtpd, 127.0.0.1) that records what it accepts, per worker pid."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from typing import Any

from reliability.recorder import PID_HEADER, Recorder


class _Handler:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        pid = int(msg.get(PID_HEADER, "0") or 0)
        # the row is written before "250": from here on the provider has the email
        self.recorder.accept([r.lower() for r in envelope.rcpt_tos], pid)
        return "250 Message accepted for delivery"


class RecordingSmtpServer:
    """``with RecordingSmtpServer(recorder) as port:`` runs the server for the block."""

    def __init__(self, recorder: Recorder) -> None:
        from aiosmtpd.controller import Controller

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self._controller = Controller(_Handler(recorder), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> int:
        self._controller.start()
        return self.port

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
