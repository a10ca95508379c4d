"""A warm local "Lambda container" per function: a subprocess serving invocations as JSON lines."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from infra.local.aws_requests import function_access_key
from infra.local.offline import OFFLINE_AWS_ENV

if TYPE_CHECKING:
    from collections.abc import Callable

    from infra.local.template import Stack

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"
# The host variables a function may see; everything else comes from the template, as in Lambda.
_HOST_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "TMPDIR")
# How long a worker may take to import its handler (a cold start) before it is given up on.
_INIT_SECONDS = 60.0


class InvocationError(RuntimeError):
    """The handler raised, timed out or its process died; the message carries the traceback."""

    def __init__(self, message: str, *, error_type: str = "Unhandled", trace: str = "") -> None:
        super().__init__(f"{message}\n{trace}".rstrip())
        self.summary = message  # without the traceback, which the worker already logged
        self.error_type = error_type
        self.trace = trace


def function_settings(stack: Stack, logical: str) -> tuple[int, int]:
    """(timeout seconds, memory MB) of a function: its own properties, else the Globals'."""
    defaults = stack.template.get("Globals", {}).get("Function", {})
    own = stack.template["Resources"][logical].get("Properties", {})
    timeout = int(stack.resolve(own.get("Timeout", defaults.get("Timeout", 3))))
    memory = int(stack.resolve(own.get("MemorySize", defaults.get("MemorySize", 128))))
    return timeout, memory


def lambda_environment(stack: Stack, logical: str, endpoint_url: str) -> dict[str, str]:
    """A function's environment as Lambda would set it, with every AWS client pointed at moto."""
    timeout, memory = function_settings(stack, logical)
    name = stack.physical_name(logical)
    env = stack.function_environment(logical)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_REGION": stack.region,
            "AWS_DEFAULT_REGION": stack.region,
            # Fake credentials, and no profile files: a client that escaped moto reaches nothing.
            **OFFLINE_AWS_ENV,
            # Its own key, so the local moto server counts what each function asked of AWS.
            "AWS_ACCESS_KEY_ID": function_access_key(logical),
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "POWERTOOLS_TRACE_DISABLED": "true",
            # The code root of the deployed package (CodeUri) plus the repo for this module.
            "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class FunctionWorker:
    """Parent side of one warm container: starts it, invokes it one event at a time, stops it."""

    def __init__(
        self,
        logical: str,
        handler: str,
        env: dict[str, str],
        *,
        timeout_seconds: float = 20.0,
        stderr: IO[bytes] | int | None = None,
    ) -> None:
        self.logical = logical
        self.handler = handler
        self.timeout_seconds = timeout_seconds
        base = {name: os.environ[name] for name in _HOST_VARIABLES if name in os.environ}
        self._env = {**base, **env}
        self._stderr = stderr
        # One invocation at a time, as one Lambda execution environment serves one request.
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._start()

    def _start(self) -> None:
        self._buffer = b""
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "infra.local.worker", self.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=self._env,
            cwd=ROOT,
        )
        # The import is the cold start: a bad setting fails here, naming the variable.
        ready = self._read_message(time.monotonic() + _INIT_SECONDS)
        if not ready.get("ok"):
            self._kill()
            raise InvocationError(
                f"{self.logical}: {self.handler} failed to initialise: {ready.get('message', '')}",
                error_type=str(ready.get("error_type", "InitError")),
                trace=str(ready.get("trace", "")),
            )

    def invoke(self, event: dict[str, Any]) -> Any:  # noqa: ANN401 - whatever the handler returns
        """Run the handler on ``event``; raise ``InvocationError`` if it raised or timed out."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                # A crashed or timed-out container is replaced, as Lambda does on the next request.
                self._start()
            process = self._process
            if process is None or process.stdin is None:
                raise InvocationError(f"{self.logical}: the worker process did not start")
            deadline = time.monotonic() + self.timeout_seconds
            request = {
                "event": event,
                "request_id": str(uuid.uuid4()),
                "deadline_epoch_ms": int((time.time() + self.timeout_seconds) * 1000),
            }
            try:
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                self._kill()
                raise InvocationError(f"{self.logical}: the worker process is gone ({exc})") from exc
            answer = self._read_message(deadline)
            if answer.get("ok"):
                return answer.get("result")
            raise InvocationError(
                f"{self.logical}: {answer.get('error_type', 'Error')}: {answer.get('message', '')}",
                error_type=str(answer.get("error_type", "Unhandled")),
                trace=str(answer.get("trace", "")),
            )

    def _read_message(self, deadline: float) -> dict[str, Any]:
        """One JSON line from the worker, or an error if it died or ran out of time."""
        process = self._process
        if process is None or process.stdout is None:
            return {"ok": False, "error_type": "Runtime.ExitError", "message": "no worker process"}
        fd = process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                return {
                    "ok": False,
                    "error_type": "Sandbox.Timedout",
                    "message": f"Task timed out after {self.timeout_seconds:.2f} seconds",
                }
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                code = process.wait()
                self._kill()
                return {"ok": False, "error_type": "Runtime.ExitError", "message": f"worker exited ({code})"}
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if process is not None:
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker: end of input lets it exit by itself; kill it if it does not."""
        with self._lock:
            process, self._process = self._process, None
            if process is None:
                return
            if process.stdin is not None:
                with contextlib.suppress(OSError):  # already gone
                    process.stdin.close()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


# --- the child side: python -m infra.local.worker <module.function> ---------------------------


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline_epoch_ms: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_epoch_ms - int(time.time() * 1000))


def _load(handler: str) -> Callable[[dict[str, Any], LambdaContext], Any]:
    module_name, _, attribute = handler.rpartition(".")
    function: Callable[[dict[str, Any], LambdaContext], Any] = getattr(
        importlib.import_module(module_name), attribute
    )
    return function


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "ok": False,
        "error_type": type(exc).__name__,
        "message": str(exc),
        "trace": "".join(traceback.format_exception(exc)),
    }


def serve(handler: str) -> int:
    """Import ``handler`` once, then answer one JSON line per JSON line read from stdin."""
    # The parent decides when to stop (end of stdin); Ctrl-C in the terminal reaches us too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Keep the real stdout for the protocol and send fd 1 to stderr, so handler prints and
    # Powertools' logs and metrics (written to stdout) show in the terminal, not in a reply.
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer

    def reply(message: dict[str, Any]) -> None:
        protocol.write(json.dumps(message, default=str).encode() + b"\n")
        protocol.flush()

    try:
        function = _load(handler)
    except BaseException as exc:  # noqa: BLE001 - any import failure is a failed cold start
        reply(_error(exc))
        return 1
    reply({"ok": True})
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", handler)
    region = os.environ.get("AWS_REGION", "us-east-1")
    memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    for line in requests:
        if not line.strip():
            continue
        request = json.loads(line)
        context = LambdaContext(
            function_name=name,
            memory_limit_in_mb=memory,
            invoked_function_arn=f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}",
            aws_request_id=request["request_id"],
            deadline_epoch_ms=int(request["deadline_epoch_ms"]),
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=f"local/[$LATEST]{uuid.uuid4().hex}",
        )
        try:
            result = function(request["event"], context)
        except Exception as exc:  # noqa: BLE001 - reported to the caller, as Lambda reports it
            traceback.print_exc()
            reply(_error(exc))
        else:
            reply({"ok": True, "result": result})
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m infra.local.worker <module.function>\n")
        sys.exit(2)
    sys.exit(serve(sys.argv[1]))
