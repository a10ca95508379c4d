"""api: the CRM's HTTP API over threads. API Gateway's JWT authorizer has verified the caller.

The tenant and the user come from the token's claims, never from the request: a caller
sees only its own tenant, and only the messages the visibility rule grants it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dealwire.domain.linking import visible_to
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import api_settings
from dealwire.store.envelopes import InvalidCursor
from dealwire.store.mail import MailStore, UnknownDeal, UnknownThread

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

settings = api_settings()  # a missing or malformed setting fails the cold start, by name
app = APIGatewayHttpResolver()
_THREAD_ID = re.compile(r"^[a-f0-9]{32}$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@cache
def store() -> MailStore:
    return MailStore(settings.table_name)


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class DealChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    deal_id: str = Field(alias="dealId", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _caller() -> tuple[str, str]:
    """(tenant, user) from the verified token; refused when either claim is missing."""
    claims = app.current_event.request_context.authorizer.jwt_claim
    tenant, user = claims.get(settings.tenant_claim), claims.get(settings.user_claim)
    if not isinstance(tenant, str) or not _TENANT.match(tenant) or not isinstance(user, str) or not user:
        raise ApiError(
            403,
            "forbidden",
            f"the token carries no usable {settings.tenant_claim!r} and {settings.user_claim!r} claims",
        )
    return tenant, user


def _thread_id(thread_id: str) -> str:
    if not _THREAD_ID.match(thread_id):
        raise ApiError(404, "not_found", "no such thread")
    return thread_id


@app.get("/v1/threads/<thread_id>")
def get_thread(thread_id: str) -> Response[str]:
    """The thread and the messages the caller may see, oldest first."""
    tenant, user = _caller()
    params = app.current_event.query_string_parameters or {}
    # The thread item sorts after its messages ("THREAD" > "MSG#"): read it on its own, so
    # every page is judged by the thread's link state.
    thread = store().thread(tenant, _thread_id(thread_id))
    if thread is None:
        raise ApiError(404, "not_found", "no such thread")
    page = store().thread_messages(tenant, thread.thread_id, cursor=params.get("cursor"))
    messages = [
        _message(item)
        for item in page.items
        if visible_to(
            user,
            owner_id=str(item.get("owner_user_id")),
            sharing=str(item.get("sharing")),
            thread_state=thread.link.state,
        )
    ]
    if not messages and not page.cursor and not params.get("cursor"):
        raise ApiError(404, "not_found", "no such thread")  # nothing visible: as good as absent
    body: dict[str, Any] = {"thread": _thread(thread.item), "messages": messages, "cursor": page.cursor}
    return _json(200, body)


@app.post("/v1/threads/<thread_id>/deal")
def choose_deal(thread_id: str) -> Response[str]:
    """Settle which deal a thread belongs to (``mail.needs_deal_choice`` asked for it)."""
    tenant, user = _caller()
    try:
        choice = DealChoice.model_validate(app.current_event.json_body or {})
    except (ValidationError, ValueError) as exc:
        raise ApiError(400, "invalid_body", 'expected {"dealId": "<deal id>"}') from exc
    try:
        store().choose_deal(
            tenant, _thread_id(thread_id), choice.deal_id, user, datetime.now(UTC).isoformat()
        )
    except UnknownThread:
        raise ApiError(404, "not_found", "no such thread") from None
    except UnknownDeal:
        raise ApiError(422, "unknown_deal", f"deal {choice.deal_id!r} is not known or was deleted") from None
    metrics.add_metric(name="DealsChosen", unit=MetricUnit.Count, value=1)
    return _json(200, {"threadId": thread_id, "dealId": choice.deal_id, "linkState": "linked"})


def _thread(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "threadId": item.get("thread_id"),
        "subject": item.get("subject"),
        "linkState": item.get("link_state"),
        "contactIds": item.get("contact_ids") or [],
        "dealId": item.get("deal_id"),
        "candidateDealIds": item.get("candidates") or [],
        "messageCount": item.get("message_count", 0),
        "startedAt": item.get("started_at"),
        "lastMessageAt": item.get("last_message_at"),
    }


def _message(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageKey": item.get("message_key"),
        "messageId": item.get("message_id"),
        "kind": item.get("kind"),
        "from": item.get("from") or [],
        "to": item.get("to") or [],
        "cc": item.get("cc") or [],
        "subject": item.get("subject"),
        "sentAt": item.get("sent_at"),
        "ownerUserId": item.get("owner_user_id"),
        "sharing": item.get("sharing"),
        "snippet": item.get("snippet"),
        "parts": [
            {k: part.get(k) for k in ("role", "key", "size", "sha256", "content_type", "filename")}
            for part in item.get("parts") or []
        ],
    }


@app.exception_handler(ApiError)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def refused(error: ApiError) -> Response[str]:
    return _json(error.status, {"error": error.error, "message": error.message})


@app.exception_handler(InvalidCursor)  # type: ignore[untyped-decorator]
def bad_cursor(error: InvalidCursor) -> Response[str]:
    return _json(400, {"error": "invalid_cursor", "message": str(error)})


@app.not_found
def no_route(_: Exception) -> Response[str]:
    return _json(404, {"error": "not_found", "message": "GET /v1/threads/{id} or POST /v1/threads/{id}/deal"})


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def failed(error: Exception) -> Response[str]:
    logger.exception("api request failed", extra={"error": type(error).__name__})
    metrics.add_metric(name="ApiFailed", unit=MetricUnit.Count, value=1)
    return _json(500, {"error": "internal", "message": "the request failed; retry it"})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
