"""`make run` started as a child process on free loopback ports, for the e2e tests and the benches."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.local.template import ROOT

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PORT_VARIABLES = ("DEALWIRE_HTTP_PORT", "DEALWIRE_AWS_PORT", "DEALWIRE_DOCUSIGN_PORT", "DEALWIRE_SMTP_PORT")


class LaunchFailed(RuntimeError):
    """The stack exited or did not write its state file in time; ``log`` says why."""


def free_port() -> int:
    """A port nothing listens on now: bound by the OS, then released for the stack to take."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Launched:
    state: dict[str, Any]
    log: Path
    process: subprocess.Popen[bytes]


def stop(process: subprocess.Popen[bytes], seconds: float = 30.0, how: int = signal.SIGINT) -> None:
    """Ctrl-C's signal (or ``how``), then a kill if it has not gone within ``seconds``."""
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def launched(
    directory: Path, *, start_seconds: float = 120.0, stop_seconds: float = 30.0, how: int = signal.SIGINT
) -> Iterator[Launched]:
    """A whole local stack whose state file and log are in ``directory``; stopped on exit
    with ``how`` (Ctrl-C's SIGINT unless told), killed if it outlives ``stop_seconds``."""
    state_file, log = directory / "local.json", directory / "stack.log"
    # The caller's own settings (a test session's, say) are not the stack's business.
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("DEALWIRE_", "POWERTOOLS_"))
    }
    env.update({name: str(free_port()) for name in PORT_VARIABLES})
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "infra.local.run", "--state-file", str(state_file)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + start_seconds
        while not state_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise LaunchFailed(
                    f"the local stack did not start:\n{log.read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.1)
        yield Launched(json.loads(state_file.read_text()), log, process)
    finally:
        stop(process, stop_seconds, how)
