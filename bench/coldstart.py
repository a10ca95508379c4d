"""Cold start as Lambda bills it: import plus the first event's CPU, each in a fresh interpreter.

The handler (import ``webhook_docusign.app``, then its first invocation: clients built,
the tenant's secret fetched, the event recorded) against the floor (``import boto3``,
then the clients that event's requests need, on one session, and those very requests,
with the body parsed and HMAC'd). ``bench.first_call`` is the child; AWS is answered
in-process. The import-time tree (``-X importtime``) says where the import goes.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "functions" / "requirements.txt"
HANDLER_MODULE = "webhook_docusign.app"
_ABSENT = "DEALWIRE_BENCH_ABSENT"
# Modules named in $DEALWIRE_BENCH_ABSENT import as if not installed (None in sys.modules
# makes `import` raise ImportError). The prelude is for `-X importtime`; bench.first_call
# does the same itself, with nothing imported but the standard library before its clock.
_PRELUDE = (
    "import os, sys; "
    "sys.modules.update(dict.fromkeys(filter(None, os.environ.get('{absent}', '').split(','))))"
)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class ImportCost:
    module: str
    self_ms: float
    cumulative_ms: float
    depth: int


@dataclass(frozen=True, slots=True)
class Start:
    """Median CPU of one case's cold start, in ms: the import, the first event, and both."""

    import_ms: float
    first_ms: float
    total_ms: float


@dataclass(frozen=True, slots=True)
class Pair:
    """The floor's and the handler's cold starts in one environment."""

    floor: Start
    handler: Start

    @property
    def ratio(self) -> float:
        return self.handler.total_ms / self.floor.total_ms


@dataclass(frozen=True, slots=True)
class ColdStart:
    tests: Pair
    in_lambda: Pair
    runs: int
    heaviest: list[ImportCost]
    absent: list[str]


def _normal(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def not_shipped() -> list[str]:
    """Top-level modules installed in .venv by a distribution that functions/requirements.txt
    (what `sam build` bundles) does not list: dev-only packages Lambda would not have."""
    shipped = {
        _normal(match[1]) for line in REQUIREMENTS.read_text().splitlines() if (match := _PIN.match(line))
    }
    return sorted(
        name
        for name, distributions in packages_distributions().items()
        if name.isidentifier()
        and name not in sys.stdlib_module_names
        and not {_normal(distribution) for distribution in distributions} & shipped
    )


def tests_environment() -> dict[str, str]:
    """The bench's own environment (the tests' settings from template.yaml) with Lambda's code root."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT / "functions"), str(ROOT)])
    environment.pop(_ABSENT, None)
    return environment


def lambda_environment(absent: list[str]) -> dict[str, str]:
    """As a Lambda container starts the function: the X-Ray SDK sees LAMBDA_TASK_ROOT (so it
    builds no sampling client), tracing is on (template.yaml: ``Tracing: Active``, so
    Powertools patches every library X-Ray supports), and dev-only packages are absent."""
    environment = tests_environment()
    environment.pop("POWERTOOLS_TRACE_DISABLED", None)
    environment.update(
        {
            "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
            "AWS_LAMBDA_FUNCTION_NAME": "webhook_docusign",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            _ABSENT: ",".join(absent),
        }
    )
    return environment


def _run(arguments: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, *arguments], env=environment, cwd=ROOT, capture_output=True, text=True, check=True
    )


def _first_call(case: str, case_file: Path, environment: dict[str, str]) -> tuple[float, float]:
    """(import, first event) CPU seconds of one fresh interpreter."""
    output = _run(["-m", "bench.first_call", case, str(case_file)], environment).stdout
    # The handler's own log lines come first; the child's answer is the last line.
    answer = json.loads(output.strip().splitlines()[-1])
    return float(answer["import"]), float(answer["first"])


def heaviest_imports(module: str, environment: dict[str, str], count: int) -> list[ImportCost]:
    """The modules with the largest cumulative import time under ``module``, from ``-X importtime``."""
    prelude = _PRELUDE.format(absent=_ABSENT)
    report = _run(["-X", "importtime", "-c", f"{prelude}; import {module}"], environment).stderr
    costs = [
        ImportCost(
            module=match[4],
            self_ms=int(match[1]) / 1000,
            cumulative_ms=int(match[2]) / 1000,
            depth=(len(match[3]) - 1) // 2,  # one space at the top level, two more per level
        )
        for line in report.splitlines()
        if (match := _IMPORTTIME.match(line))
    ]
    # The module itself and its parent package are the whole tree; show what is inside.
    whole = {module, module.rpartition(".")[0]}
    inside = [cost for cost in costs if cost.module not in whole]
    return sorted(inside, key=lambda cost: cost.cumulative_ms, reverse=True)[:count]


def _start(samples: list[tuple[float, float]]) -> Start:
    return Start(
        import_ms=statistics.median(imported for imported, _ in samples) * 1000,
        first_ms=statistics.median(first for _, first in samples) * 1000,
        total_ms=statistics.median(imported + first for imported, first in samples) * 1000,
    )


def measure(case_file: Path, runs: int = 15, heaviest: int = 8) -> ColdStart:
    """Median of ``runs`` fresh interpreters per case and environment, order rotated."""
    absent = not_shipped()
    tests, in_lambda = tests_environment(), lambda_environment(absent)
    cases = [("floor", tests), ("handler", tests), ("floor", in_lambda), ("handler", in_lambda)]
    # One untimed start each first, so every case reads compiled bytecode and a warm page cache.
    for name, environment in cases:
        _first_call(name, case_file, environment)
    samples: list[list[tuple[float, float]]] = [[] for _ in cases]
    for run in range(runs):
        # Rotate which case goes first so a drift in machine load falls on all of them.
        for index in [(run + step) % len(cases) for step in range(len(cases))]:
            name, environment = cases[index]
            samples[index].append(_first_call(name, case_file, environment))
    starts = [_start(values) for values in samples]
    return ColdStart(
        tests=Pair(starts[0], starts[1]),
        in_lambda=Pair(starts[2], starts[3]),
        runs=runs,
        heaviest=heaviest_imports(HANDLER_MODULE, in_lambda, heaviest),
        absent=absent,
    )
