"""The local stack of `make run`, started once per session on free loopback ports."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import pytest

from infra.local.launch import LaunchFailed, launched

if TYPE_CHECKING:
    from collections.abc import Iterator

START_SECONDS = 60.0


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


# SIGTERM is how a process manager (or a CI runner) stops `make run`; the stack must be gone,
# its worker processes with it and its ports free, well before launch's kill would come.
STOP_SECONDS = 10.0


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            pending.extend(children - found)
            found |= children
    return found


def _ports_taken(state: dict[str, Any]) -> list[int]:
    ports = [
        int(urlsplit(state[name]).port or 0) for name in ("webhook_url", "aws_endpoint_url", "docusign_url")
    ]
    taken = []
    for port in [*ports, int(state["smtp_port"])]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.append(port)
    return taken


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    try:
        with launched(
            tmp_path_factory.mktemp("local-stack"),
            start_seconds=START_SECONDS,
            stop_seconds=STOP_SECONDS,
            how=signal.SIGTERM,
        ) as stack:
            yield LocalStack(stack.state, stack.log)
            # Taken now: the functions' workers start with their first invocation.
            children = _descendants(stack.process.pid)
            assert children, "the stack's processes could not be listed (/proc/<pid>/task/*/children)"
            stopping = time.monotonic()
    except LaunchFailed as exc:
        pytest.fail(str(exc))
    took = time.monotonic() - stopping
    tail = stack.log.read_text(errors="replace")[-2000:]
    assert stack.process.returncode == 0, f"SIGTERM: the stack exited {stack.process.returncode}\n{tail}"
    assert took < STOP_SECONDS, f"SIGTERM: the stack took {took:.1f} s to stop\n{tail}"
    left = {pid for pid in children if Path(f"/proc/{pid}").exists()}
    assert not left, f"SIGTERM: processes of the stack still running: {sorted(left)}"
    assert not _ports_taken(stack.state), f"SIGTERM: ports still taken: {_ports_taken(stack.state)}"


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
