"""Calling the CRM API and crm_projection in-process, as API Gateway and EventBridge would."""

from __future__ import annotations

import base64
import importlib
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tests.mail_support import CARLA, bcc_mail, ingest, put_raw, seed_crm, ses_event
from tests.support import FakeContext

if TYPE_CHECKING:
    from infra.local.template import Stack

# The domain every event here says the API was reached at (the root of its part links).
API_DOMAIN = "api.dealwire.example"
ULLA = {"dealwire:tenant": "default", "sub": "user-3"}
SAM = {"dealwire:tenant": "default", "sub": "user-4"}
# Another tenant's active user with the same user id as Ulla: only the tenant tells them apart.
OTHER = {"dealwire:tenant": "other", "sub": "user-3"}


def crm(detail_type: str, **detail: Any) -> dict[str, Any]:
    """One CRM event through crm_projection (the tenant is "default" unless given)."""
    from crm_projection import app

    event = {
        "id": "e1",
        "source": "crm",
        "detail-type": detail_type,
        "detail": {"tenantId": "default", **detail},
    }
    result: dict[str, Any] = app.lambda_handler(event, FakeContext())
    return result


def seed_other_tenants_user() -> None:
    crm(
        "user.upserted",
        tenantId=OTHER["dealwire:tenant"],
        userId=OTHER["sub"],
        email="u@other.example",
        updatedAt="2026-11-20T08:00:00Z",
    )


def http_api_event(
    method: str,
    path: str,
    *,
    query: str = "",
    body: Any = None,
    claims: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway hands the API function once its JWT authorizer passed."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
            "authorizer": {"jwt": {"claims": claims or {}, "scopes": None}},
            "requestId": "r1",
            "stage": "$default",
            "domainName": API_DOMAIN,
            "domainPrefix": "api",
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    return event


def call(
    method: str,
    path: str,
    *,
    query: str = "",
    body: Any = None,
    claims: dict[str, str] | None = None,
    function: str = "api",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The whole answer (status, headers, body as text) of the API function, or of ``function``
    (``integrations``: the other function behind the HTTP API)."""
    module = importlib.import_module(f"{function}.app")
    answer: dict[str, Any] = module.lambda_handler(
        http_api_event(method, path, query=query, body=body, claims=claims, headers=headers), FakeContext()
    )
    return answer


def api(
    method: str,
    path: str,
    *,
    query: str = "",
    body: Any = None,
    claims: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of one API call."""
    answer = call(method, path, query=query, body=body, claims=claims, headers=headers)
    return answer["statusCode"], json.loads(answer["body"] or "{}")


def filed(
    aws: Stack, sharing: str, deals: dict[str, list[str]] | None = None, to: str = f"Carla <{CARLA}>"
) -> str:
    """Ulla's mail to Carla filed: the thread's id."""
    seed_crm(aws, sharing=sharing, deals=deals)
    put_raw(aws, "m1", bcc_mail(to=to))
    return str(ingest(ses_event("m1"))["outcomes"][0]["threadId"])


def follow(url: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, bytes) of a part link a thread answered: the API's own link is
    answered by the API function in-process (the way API Gateway would route it, with no
    token), any other (a presigned S3 URL) is fetched from moto."""
    link = urlsplit(url)
    if link.hostname != API_DOMAIN:
        import requests

        answer = requests.get(url, timeout=10)
        return answer.status_code, dict(answer.headers), answer.content
    whole = call("GET", link.path, query=link.query)
    body = whole.get("body") or ""
    data = base64.b64decode(body) if whole.get("isBase64Encoded") else body.encode()
    return whole["statusCode"], {k.lower(): v for k, v in (whole.get("headers") or {}).items()}, data
