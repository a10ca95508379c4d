"""The local stack of `make run`, started once per session on free loopback ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 60.0
STOP_SECONDS = 15.0


def free_port() -> int:
    """A port nothing listens on now: bound by the OS, then released for the stack to take."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalStack:
    """The running stack as a test sees it: its state file, and clients pointed at its moto."""

    def __init__(self, state: dict[str, Any], log: Path) -> None:
        self.state = state
        self.log = log

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            region_name=self.state["region"],
            endpoint_url=self.state["aws_endpoint_url"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    directory = tmp_path_factory.mktemp("local-stack")
    state_file = directory / "local.json"
    log = directory / "stack.log"
    env = {
        **os.environ,
        "DEALWIRE_HTTP_PORT": str(free_port()),
        "DEALWIRE_AWS_PORT": str(free_port()),
        "DEALWIRE_DOCUSIGN_PORT": str(free_port()),
        "DEALWIRE_SMTP_PORT": str(free_port()),
    }
    # The test session's own AWS settings (tests/conftest.py) are not the stack's business.
    for name in list(env):
        if name.startswith(("DEALWIRE_", "POWERTOOLS_")) and not name.endswith("_PORT"):
            del env[name]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "infra.local.run", "--state-file", str(state_file)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_SECONDS
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            pytest.fail(f"the local stack did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    try:
        yield LocalStack(json.loads(state_file.read_text()), log)
    finally:
        _stop(process)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failed e2e test, print the stack's log: the functions' tracebacks are there."""
    report = yield
    if report.failed and "local_stack" in getattr(item, "fixturenames", ()):
        stack = getattr(item, "funcargs", {}).get("local_stack")
        if isinstance(stack, LocalStack) and stack.log.exists():
            tail = stack.log.read_text(errors="replace")[-20_000:]
            report.sections.append(("local stack log (tail)", tail))
    return report
