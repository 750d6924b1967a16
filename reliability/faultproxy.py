"""An HTTP proxy on 127.0.0.1 in front of moto that injects AWS faults.

A share ``rate`` of requests fails: throttling (400 ``ThrottlingException`` for the
JSON protocols, 503 ``SlowDown`` for S3) or a 500 -- either instead of forwarding, or
AFTER forwarding (the call took effect but the client sees an error, the hard case).
"""

from __future__ import annotations

import http.client
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class FaultProxy:
    def __init__(self, upstream_port: int, *, seed: int = 5) -> None:
        self.upstream_port = upstream_port
        self.rate = 0.0
        self.after = True  # allow faults after forwarding
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _decide(self) -> str | None:
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            kinds = ("throttle", "500", "500-after") if self.after else ("throttle", "500")
            kind = self._random.choice(kinds)
            self.injected[kind] += 1
            return kind

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        json_protocol = "X-Amz-Target" in req.headers
        kind = self._decide()
        if kind in ("throttle", "500"):
            return self._fault(req, kind, json_protocol)
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        headers = {k: v for k, v in req.headers.items() if k.lower() != "host"}
        headers["Host"] = f"127.0.0.1:{self.upstream_port}"
        conn.request(req.command, req.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if kind == "500-after":
            return self._fault(req, "500", json_protocol)
        req.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                req.send_header(k, v)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(data)

    @staticmethod
    def _fault(req: BaseHTTPRequestHandler, kind: str, json_protocol: bool) -> None:
        if json_protocol:
            code, status = (
                ("ThrottlingException", 400) if kind == "throttle" else ("InternalError", 500)
            )
            data = f'{{"__type": "{code}", "message": "injected by the fault proxy"}}'.encode()
            ctype = "application/x-amz-json-1.0"
        else:
            code, status = ("SlowDown", 503) if kind == "throttle" else ("InternalError", 500)
            data = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            ctype = "application/xml"
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("x-amzn-query-error", f"{code};Sender")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(data)


class MotoServer:
    """``with MotoServer(logdir) as port:`` -- a moto_server on 127.0.0.1 for the block."""

    def __init__(self, logdir: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.log = logdir / "moto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> int:
        out = self.log.open("wb")
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/moto-api/", timeout=1):
                    return self.port
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto_server did not start: {self.log.read_text()[-300:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
