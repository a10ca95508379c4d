"""functions/requirements.txt (what sam build ships) is exactly uv.lock's runtime set."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".dealwire" / "tools" / "bin" / "uv"


def test_requirements_match_the_lock(tmp_path: Path) -> None:
    uv = str(UV) if UV.exists() else shutil.which("uv")
    assert uv, "uv is missing: run `make install` (the Makefile installs it)"
    exported = tmp_path / "requirements.txt"
    subprocess.run(  # noqa: S603 - our own pinned tool, fixed arguments
        [
            uv,
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--no-header",
            "--output-file",
            str(exported),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert exported.read_text() == (ROOT / "functions" / "requirements.txt").read_text(), (
        "functions/requirements.txt is stale: run `make requirements`"
    )
