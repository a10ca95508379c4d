"""Benchmarks; `functions/` goes on sys.path here, as Lambda puts the code root there."""

from __future__ import annotations

import sys
from pathlib import Path

FUNCTIONS = str(Path(__file__).resolve().parents[1] / "functions")
# `python -m bench.webhook` only has the repo root on sys.path; the handler's modules
# are top-level packages under functions/, as in the Lambda bundle.
if FUNCTIONS not in sys.path:
    sys.path.insert(0, FUNCTIONS)
