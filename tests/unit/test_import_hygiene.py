"""Nothing heavy on the webhook's path: no HTTP client, no JWT, no AWS call at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# As in Lambda, with tracing on: the Tracer patches libraries at construction, and its
# default list would import httpx just to patch it.
PROBE = """
import json, os, sys
import tests.conftest  # the functions' settings, as in every test
os.environ["POWERTOOLS_TRACE_DISABLED"] = "false"
import webhook_docusign.app
from dealwire.store import clients
print(json.dumps({
    "modules": sorted(m for m in ("httpx", "jwt", "cryptography", "moto") if m in sys.modules),
    "clients_built": clients._client.cache_info().currsize,
}))
"""


def test_the_webhook_imports_no_http_client_no_jwt_and_builds_no_client() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
        "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
        "AWS_LAMBDA_FUNCTION_NAME": "webhook_docusign",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    }
    answer = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    seen = json.loads(answer.stdout.strip().splitlines()[-1])
    assert seen == {"modules": [], "clients_built": 0}
