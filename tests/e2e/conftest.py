"""The local stack of `make run`, started once per session on free loopback ports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest

from infra.local.launch import LaunchFailed, launched

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

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


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    try:
        with launched(tmp_path_factory.mktemp("local-stack"), start_seconds=START_SECONDS) as stack:
            yield LocalStack(stack.state, stack.log)
    except LaunchFailed as exc:
        pytest.fail(str(exc))


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
