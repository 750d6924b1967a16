"""``tayori lambda-local``: run a packaged zip the way Lambda runs it, on this machine.

The zip is unzipped as Lambda's task root and started under the REAL runtime interface
client (``python -m awslambdaric HANDLER``, the client AWS's Python images use), which
polls a Runtime API served here on 127.0.0.1 (the documented routes: next invocation,
response, error, init error). The local event-source-mapping emulator reads the queues
and hands each batch to it, so partial batch responses, retries and the DLQ behave as
with an SQS trigger. SAM local cannot emulate an SQS trigger; this can.
"""

from __future__ import annotations

import json
import queue
import subprocess
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tayori.errors import ConfigError, FunctionError

PREFIX = "/2018-06-01/runtime"
ARN = "arn:aws:lambda:{region}:000000000000:function:{name}"


class RuntimeAPI:
    """The Lambda Runtime API for local clients; ``invoke`` waits for one answer."""

    def __init__(self, function_arn: str) -> None:
        self.pending: queue.Queue[tuple[str, bytes, int]] = queue.Queue()
        self.answers: dict[str, tuple[str, Any]] = {}
        self.init_errors: list[dict[str, Any]] = []
        self.first_polls: set[str] = set()  # clients (by address) that finished init
        self.cond = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self, function_arn))
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: dict[str, Any], timeout: float, alive: Any) -> Any:
        request_id = str(uuid.uuid4())
        deadline_ms = int((time.time() + timeout) * 1000)
        self.pending.put((request_id, json.dumps(event).encode(), deadline_ms))
        end = time.monotonic() + timeout
        with self.cond:
            while request_id not in self.answers:
                if self.init_errors or not alive():
                    raise FunctionError(f"the function did not start: {self.init_error()}")
                if time.monotonic() > end:
                    raise FunctionError(f"no answer within {timeout:g}s")
                self.cond.wait(0.2)
            kind, body = self.answers.pop(request_id)
        if kind == "error":
            body = body or {}
            raise FunctionError(f"{body.get('errorType')}: {body.get('errorMessage')}")
        return body

    def init_error(self) -> str:
        if not self.init_errors:
            return "the runtime client exited"
        err = self.init_errors[-1]
        return f"{err.get('errorType')}: {err.get('errorMessage')}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler_class(api: RuntimeAPI, arn: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None):
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                return self._reply(404)
            with api.cond:
                api.first_polls.add(f"{self.client_address[0]}:{self.client_address[1]}")
            request_id, body, deadline_ms = api.pending.get()
            self._reply(
                200,
                body,
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": arn,
                },
            )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = {"errorType": "Runtime.MalformedResponse", "errorMessage": raw[:200]}
            parts = self.path.removeprefix(PREFIX).strip("/").split("/")
            with api.cond:
                if parts == ["init", "error"]:
                    api.init_errors.append(data or {})
                elif len(parts) == 3 and parts[0] == "invocation":
                    api.answers[parts[1]] = (parts[2], data)
                else:
                    return self._reply(404)
                api.cond.notify_all()
            self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

    return Handler


class LocalFunction:
    """``concurrency`` execution environments of one function, each an awslambdaric
    process in the unzipped task root; call it like a Lambda handler."""

    def __init__(
        self,
        artifact: str | Path,
        handler: str,
        python: str,
        *,
        concurrency: int = 1,
        timeout: float = 60.0,
        name: str = "tayori-local",
        region: str = "us-east-1",
        log: Any = None,
    ) -> None:
        path = Path(artifact)
        if not path.exists():
            raise ConfigError(f"{artifact} does not exist (build it with `tayori package`)")
        self._tmp = tempfile.TemporaryDirectory(prefix="tayori-lambda-")
        if path.is_file():
            root = Path(self._tmp.name) / "task"
            with zipfile.ZipFile(path) as zf:
                zf.extractall(root)
        else:
            root = path
        self.task_root, self.timeout = root.resolve(), timeout
        if "/" in python:  # the clients run in the task root: a relative path would move
            python = str(Path(python).absolute())
        self.api = RuntimeAPI(ARN.format(region=region, name=name))
        # `env` passes this environment through and adds what Lambda sets
        cmd = [
            "env",
            f"AWS_LAMBDA_RUNTIME_API={self.api.address}",
            f"LAMBDA_TASK_ROOT={self.task_root}",
            f"AWS_LAMBDA_FUNCTION_NAME={name}",
            f"AWS_LAMBDA_FUNCTION_TIMEOUT={int(timeout)}",
            python,
            "-m",
            "awslambdaric",
            handler,
        ]
        try:
            self.procs = [
                subprocess.Popen(cmd, cwd=self.task_root, stdout=log, stderr=log)
                for _ in range(concurrency)
            ]
        except OSError as exc:
            self.close()
            raise ConfigError(f"cannot start {python}: {exc.strerror or exc}") from None

    def alive(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    def __call__(self, event: dict[str, Any], context: Any = None) -> Any:
        return self.api.invoke(event, self.timeout, self.alive)

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Until every client has loaded the handler and asks for work; one line if one
        cannot (the init error Lambda would log)."""
        end = time.monotonic() + seconds
        while len(self.api.first_polls) < len(self.procs):
            if self.api.init_errors or not all(p.poll() is None for p in self.procs):
                raise ConfigError(f"the function did not start: {self.api.init_error()}")
            if time.monotonic() > end:
                raise ConfigError(f"the function did not start within {seconds:g}s")
            time.sleep(0.05)

    def close(self) -> None:
        for proc in getattr(self, "procs", []):
            if proc.poll() is None:
                proc.terminate()
        for proc in getattr(self, "procs", []):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if hasattr(self, "api"):
            self.api.close()
        self._tmp.cleanup()
