"""`make run` started twice: the second says where the first is, instead of failing on a port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from infra.local import run

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def process() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line is a `python -m infra.local.run`'s, sleeping."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", "infra.local.run"])
    # Until the child has exec'd, /proc shows the command line it was forked from (pytest's).
    deadline = time.monotonic() + 10
    while b"infra.local.run" not in Path(f"/proc/{child.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.01)
    yield child
    child.kill()
    child.wait()


def state(path: Path, pid: int) -> Path:
    path.write_text(json.dumps({"pid": pid, "webhook_url": "http://127.0.0.1:3000/webhooks/docusign"}))
    return path


def test_a_live_stack_is_found_from_its_state_file(tmp_path: Path, process: subprocess.Popen[bytes]) -> None:
    found = run.running_stack(state(tmp_path / "local.json", process.pid))
    assert found is not None
    assert found["pid"] == process.pid


def test_a_stale_state_file_names_no_stack(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])  # noqa: S607 - alive, but not a stack
    try:
        assert run.running_stack(state(tmp_path / "a.json", sleeper.pid)) is None
    finally:
        sleeper.kill()
        sleeper.wait()
    assert run.running_stack(state(tmp_path / "b.json", sleeper.pid)) is None  # gone
    assert run.running_stack(state(tmp_path / "c.json", os.getpid())) is None  # this very process
    assert run.running_stack(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert run.running_stack(tmp_path / "bad.json") is None


def test_a_second_make_run_says_where_the_first_is_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = state(tmp_path / "local.json", 4242)
    monkeypatch.setattr(run, "running_stack", lambda _: json.loads(path.read_text()))

    def no_stack(*_: object) -> None:
        raise AssertionError("a second make run started a stack")

    monkeypatch.setattr(run, "LocalStack", no_stack)
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = run.main(["--state-file", str(path)])
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    assert code == 2
    message = capsys.readouterr().err
    assert "a stack is already up (pid 4242)" in message
    assert "kill -INT 4242" in message


def test_the_banner_says_where_everything_is_and_its_token_command_prints_the_token(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    fields = {
        "webhook_url": "http://127.0.0.1:3000/webhooks/docusign",
        "tenant_id": "default",
        "aws_endpoint_url": "http://127.0.0.1:5000",
        "region": "us-east-1",
        "docusign_url": "http://127.0.0.1:8080",
        "docusign_account_id": "acct",
        "docusign_hmac_keys": ["k="],
        "api_url": "http://127.0.0.1:3000/v1",
        "api_docs_url": "http://127.0.0.1:3000/docs",
        "console_url": "http://127.0.0.1:3000/console",
        "api_token": "the-dev-token",
        "bcc_address": "default@bcc.dealwire.localhost",
        "smtp_host": "127.0.0.1",
        "smtp_port": 2525,
        "state_file": str(path),
    }
    path.write_text(json.dumps(fields))
    lines = list(run._banner(fields))
    assert "  Smart BCC     default@bcc.dealwire.localhost   over SMTP 127.0.0.1:2525" in lines
    assert "  http://127.0.0.1:3000/console#token=the-dev-token" in lines
    # Aligned: every row's value starts in the same column.
    rows = lines[1 : lines.index(next(x for x in lines if x.startswith("The console")))]
    assert len({len(line) - len(line[2:].split("  ", 1)[1].lstrip()) for line in rows}) == 1, rows
    (token_line,) = [line for line in lines if line.startswith("  dev token")]
    command = token_line.split('python3 -c "', 1)[1].split('"', 1)[0]
    printed = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, check=True)  # noqa: S603
    assert printed.stdout.strip() == "the-dev-token"
