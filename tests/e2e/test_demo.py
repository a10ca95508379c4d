"""`make demo` on a stack of its own, watched by the console in a real (headless) Chromium.

The demo starts the local system on free ports, tells its story and stops it; while it
runs, the console it links to must show the tracker moving and a download that works.
Chromium is Debian's package (`.ci/run` installs it when missing); nothing downloads one.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from infra.local.template import ROOT

pytestmark = pytest.mark.e2e

# Long enough for the console (refreshing every 2 s) to render each state between steps.
PAUSE_SECONDS = 2.5
DEMO_SECONDS = 240.0
CHROMIUM = os.environ.get("DEALWIRE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Where the console's screenshot is kept after the run (a CI artefact).
ARTEFACTS = ROOT / ".dealwire" / "test-artefacts"


@dataclass
class Watched:
    """What the console showed while the demo ran."""

    trackers: list[str] = field(default_factory=list)  # each distinct tracker text, in order
    download: tuple[int, bytes] | None = None  # the signed PDF link's answer, while the stack was up
    screenshot: Path | None = None
    threads: int = 0
    problems: list[str] = field(default_factory=list)  # the page's script errors


@dataclass
class DemoRun:
    code: int
    output: str
    console_url: str
    directory: str
    watched: Watched | None


def _watch(url: str, done: threading.Event, into: Watched) -> None:
    """The console page, polled until the demo ends: tracker texts, the download, a screenshot."""
    from playwright.sync_api import sync_playwright  # only with a browser

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("pageerror", lambda error: into.problems.append(str(error)))
            page.goto(url)
            rule_card = page.locator("[data-testid=envelope]").filter(has_text="Please sign:")
            while not done.is_set():
                tracker = rule_card.locator("[data-testid=tracker]")
                if tracker.count():
                    text = tracker.first.inner_text()
                    if not into.trackers or into.trackers[-1] != text:
                        into.trackers.append(text)
                link = rule_card.locator("[data-testid=download-combined]")
                href = link.first.get_attribute("href") if into.download is None and link.count() else None
                if href and href.startswith("http"):
                    answer = httpx.get(href, timeout=10, trust_env=False)
                    into.download = (answer.status_code, answer.content)
                into.threads = page.locator("[data-testid=thread]").count()
                # Once both envelopes are completed and the threads are in: the whole story in one page.
                completed = page.locator("[data-testid=tracker]", has_text="2/2 signed").count()
                if (
                    into.download is not None
                    and into.threads >= 2
                    and completed >= 2
                    and into.screenshot is None
                ):
                    ARTEFACTS.mkdir(parents=True, exist_ok=True)
                    into.screenshot = ARTEFACTS / "console.png"
                    page.screenshot(path=str(into.screenshot), full_page=True)
                time.sleep(0.25)
        finally:
            browser.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    absent = tmp_path_factory.mktemp("demo") / "local.json"  # no stack: the demo starts its own
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "infra.local.demo",
            "--state-file",
            str(absent),
            "--pause",
            str(PAUSE_SECONDS),
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith(("DEALWIRE_", "POWERTOOLS_"))},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    console_url = directory = ""
    watched = Watched() if CHROMIUM else None
    done = threading.Event()
    watcher: threading.Thread | None = None
    deadline = time.monotonic() + DEMO_SECONDS
    try:
        for line in process.stdout:
            lines.append(line)
            if found := re.search(r"up in [\d.]+ s, in (\S+)", line):
                directory = found.group(1)
            if line.startswith("watch it in the console: "):
                console_url = line.split(": ", 1)[1].strip()
                if watched is not None:
                    watcher = threading.Thread(target=_watch, args=(console_url, done, watched), daemon=True)
                    watcher.start()
            if time.monotonic() > deadline:
                process.kill()
                break
        code = process.wait(timeout=60)
    finally:
        done.set()
        if watcher is not None:
            watcher.join(30)
        if process.poll() is None:
            process.kill()
    return DemoRun(code, "".join(lines), console_url, directory, watched)


def test_make_demo_verifies_every_step_on_a_stack_of_its_own_and_stops_it(demo: DemoRun) -> None:
    assert demo.code == 0, demo.output[-6000:]
    for number in range(1, 8):
        assert re.search(rf"^ {number} .+ verified ", demo.output, re.MULTILINE), demo.output[-3000:]
    assert "AWS requests by function: " in demo.output
    # Stopped cleanly: its port free again, none of its processes left.
    port = urlsplit(demo.console_url).port
    assert port is not None
    assert demo.directory
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    left = [
        pid.name
        for pid in Path("/proc").iterdir()
        if pid.name.isdigit() and demo.directory.encode() in _cmdline(pid)
    ]
    assert not left, f"processes of the demo's stack still running: {left}"


def _cmdline(pid: Path) -> bytes:
    try:
        return (pid / "cmdline").read_bytes()
    except OSError:
        return b""


def test_the_console_shows_the_tracker_move_and_a_download_that_works(demo: DemoRun) -> None:
    if demo.watched is None:
        pytest.skip(
            "no Chromium: install Debian's package (sudo apt-get install chromium) or set DEALWIRE_CHROMIUM"
        )
    watched = demo.watched
    assert not watched.problems, watched.problems
    assert len(watched.trackers) >= 2, watched.trackers  # it changed while the page watched
    assert watched.trackers[-1] == "2/2 signed", watched.trackers
    assert watched.download is not None, "the signed PDF's link never appeared"
    status, content = watched.download
    assert status == 200
    assert content.startswith(b"%PDF")
    assert watched.threads >= 2
    assert watched.screenshot is not None
    assert watched.screenshot.stat().st_size > 10_000
