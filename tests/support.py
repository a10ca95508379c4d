"""Builders shared by the tests: Connect messages, signatures, API Gateway events."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from dealwire.webhook.signature import sign

EVENTS = Path(__file__).parent / "events"
TENANT_ID = "default"
ACCOUNT_ID = "9f1c2a7e-3b4d-4c5e-8f6a-1b2c3d4e5f60"
ENVELOPE_ID = "a3b1c2d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
HMAC_KEY = "zYq3m1Xv8Lk2Rt9Wp4Hs7Jd0Fg6Bn5Cx1Ve8Ua3Qo2I="
OTHER_KEY = "Pq7Wn3Lx0Ry8Ts5Uv2Mz6Ko1Jh4Gf9Ed3Cb7Ai2Xs0="


def fixture_bytes(name: str) -> bytes:
    return (EVENTS / "docusign" / name).read_bytes()


def signer(recipient_id: str, status: str, *, routing_order: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "recipientId": recipient_id,
        "recipientIdGuid": f"00000000-0000-4000-8000-00000000000{recipient_id}",
        "recipientType": "signer",
        "name": f"Signer {recipient_id}",
        "email": f"signer{recipient_id}@example.com",
        "routingOrder": str(routing_order),
        "status": status,
        **extra,
    }


def sim_message(
    event: str,
    generated: str,
    *,
    status: str | None = None,
    signers: list[dict[str, Any]] | None = None,
    recipient_id: str | None = None,
    envelope_id: str = ENVELOPE_ID,
    account_id: str = ACCOUNT_ID,
    summary_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON SIM message; without ``status`` it is the minimal form (no envelope data)."""
    data: dict[str, Any] = {"accountId": account_id, "userId": "u-1", "envelopeId": envelope_id}
    if recipient_id is not None:
        data["recipientId"] = recipient_id
    if status is not None:
        data["envelopeSummary"] = {
            "status": status,
            "emailSubject": "Please sign: Order 1001",
            "sender": {"userName": "Sam Sender", "email": "sam@example.com"},
            "recipients": {"signers": signers or [], "carbonCopies": []},
            "customFields": {"textCustomFields": [{"name": "dealwire_deal_id", "value": "deal-1001"}]},
            **(summary_extra or {}),
        }
    return {
        "event": event,
        "apiVersion": "v2.1",
        "uri": f"/restapi/v2.1/accounts/{account_id}/envelopes/{envelope_id}",
        "retryCount": 0,
        "configurationId": 10418446,
        "generatedDateTime": generated,
        "data": data,
    }


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


@dataclass
class FakeContext:
    function_name: str = "webhook_docusign"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:webhook_docusign"
    aws_request_id: str = "req-1"
    remaining_millis: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def http_event(
    body: bytes,
    *,
    path: str = "/webhooks/docusign",
    key: str | None = HMAC_KEY,
    keys: list[str] | None = None,
    content_type: str = "application/json",
    base64_body: bool = False,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, headers lower-cased as API Gateway does."""
    signed = keys if keys is not None else ([key] if key else [])
    all_headers = {"content-type": content_type} if content_type else {}
    for index, secret in enumerate(signed, start=1):
        all_headers[f"x-docusign-signature-{index}"] = sign(body, secret)
    all_headers.update(headers or {})
    tenant = path.rsplit("/", 1)[-1]
    route = (
        "POST /webhooks/docusign" if path == "/webhooks/docusign" else "POST /webhooks/docusign/{tenantId}"
    )
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "DocuSign",
            },
            "requestId": "r-1",
            "routeKey": route,
            "stage": "$default",
            "time": "25/Nov/2026:06:00:00 +0000",
            "timeEpoch": 1795500000000,
        },
        "pathParameters": {} if route.endswith("docusign") else {"tenantId": tenant},
        "body": base64.b64encode(body).decode() if base64_body else body.decode("utf-8", "surrogateescape"),
        "isBase64Encoded": base64_body,
    }


class ManualClock:
    """Unix time, moved on by hand (``advance(minutes=15)``): a poller's schedule and the
    simulator's limits share it, while DocuSign's timestamps keep real time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta).total_seconds()
