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
    "clients_built": clients.built(),
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


LAZY_PROBE = """
import json
import stream_publisher.app, document_fetch.app, mail_ingest.app, crm_projection.app, api.app
import integrations.app, stage_trigger.app
from webhook_docusign import app as webhook
from tests.support import FakeContext, http_event
answer = webhook.lambda_handler(http_event(b"{}"), FakeContext())
print(json.dumps({"status": answer["statusCode"]}))
"""


def test_every_handler_imports_without_its_settings_and_the_first_call_names_what_is_missing() -> None:
    """Settings are built on first use: tests and tools import handlers freely, and a cold
    start with a missing variable still fails, by name, on its first invocation (a 500,
    which DocuSign retries, and the variable in the error log)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DEALWIRE_", "POWERTOOLS_METRICS_NAMESPACE"))
    }
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
            "POWERTOOLS_METRICS_NAMESPACE": "dealwire",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    answer = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", LAZY_PROBE], cwd=ROOT, env=env, check=False, capture_output=True, text=True
    )
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout.strip().splitlines()[-1]) == {"status": 500}
    assert "WebhookSettings is not configured" in answer.stdout
    assert "DEALWIRE_TABLE_NAME" in answer.stdout
