"""One cold start, in this fresh interpreter: ``python -m bench.first_call CASE FILE``.

Prints the CPU time (``time.process_time``) of the import and of the first event, in
seconds, as JSON. CASE is ``handler`` (import ``webhook_docusign.app``, then its first
invocation) or ``floor`` (``import boto3``, then build the clients the event's requests
need on one session, parse and HMAC the body, and make those requests). FILE is the
event, the tenant's secret and the requests, written by ``bench.coldstart``.

Nothing but the standard library is imported before the clock starts; AWS is answered
in-process at botocore's ``before-send`` (``bench.stubs``), installed off the clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _decoded(value: Any) -> Any:
    """Parameters as ``bench.coldstart`` wrote them: bytes as ``{"__bytes__": base64}``."""
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {name: _decoded(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_decoded(item) for item in value]
    return value


def _stub(secret: str) -> Any:
    from bench.stubs import AwsStub, stubbed_aws

    return stubbed_aws(AwsStub(secret))


def handler(case: dict[str, Any]) -> tuple[float, float]:
    clock = time.process_time
    start = clock()
    from webhook_docusign import app

    imported = clock() - start
    with _stub(case["secret"]):
        start = clock()
        answer = app.lambda_handler(case["event"], _Context())
        first = clock() - start
    if answer.get("statusCode") != 200:
        raise SystemExit(f"the first invocation answered {answer.get('statusCode')}: {answer.get('body')}")
    return imported, first


def floor(case: dict[str, Any]) -> tuple[float, float]:
    clock = time.process_time
    start = clock()
    import boto3
    from botocore.config import Config

    imported = clock() - start
    body = case["body"].encode()
    with _stub(case["secret"]):
        start = clock()
        session = boto3.session.Session()
        made: dict[str, Any] = {}
        json.loads(body)
        hmac.new(case["key"].encode(), body, hashlib.sha256).digest()
        for service, method, params in case["calls"]:
            if service not in made:
                # As dealwire configures them (dealwire.store.clients): the same work per request.
                retries = {"mode": "standard", "max_attempts": 3}
                config = Config(connect_timeout=3, read_timeout=10, retries=retries)
                if service == "dynamodb":
                    config = config.merge(Config(parameter_validation=False))
                made[service] = session.client(service, config=config)
            getattr(made[service], method)(**_decoded(params))
        first = clock() - start
    return imported, first


class _Context:
    """The slice of Lambda's context object that Powertools reads."""

    function_name = "webhook_docusign"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:webhook_docusign"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def main() -> None:
    # Dev-only packages import as if not installed, as in the Lambda bundle (bench.coldstart).
    absent = os.environ.get("DEALWIRE_BENCH_ABSENT", "")
    sys.modules.update(dict.fromkeys(filter(None, absent.split(","))))  # type: ignore[arg-type]
    case_name, path = sys.argv[1], sys.argv[2]
    case = json.loads(Path(path).read_text())
    imported, first = {"handler": handler, "floor": floor}[case_name](case)
    print(json.dumps({"import": imported, "first": first}), flush=True)


if __name__ == "__main__":
    main()
