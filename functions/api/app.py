"""api: the CRM's HTTP API. API Gateway's JWT authorizer has verified the caller.

The tenant and the user come from the token's claims, never from the request: a caller
sees only its own tenant, and only what the visibility rules grant it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from dealwire.contracts.api import DealChoice
from dealwire.domain.ids import is_tenant_id
from dealwire.http import error_response, json_response, register_fallbacks
from dealwire.mail.threads import NotAUser, Threads
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import api_settings
from dealwire.store.crm import CrmProjection
from dealwire.store.mail import MailStore, UnknownDeal, UnknownThread
from dealwire.store.table import InvalidCursor

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = APIGatewayHttpResolver()


@cache
def threads() -> Threads:
    """Built on the first request; a missing or malformed setting fails it, by name."""
    table = api_settings().table_name
    return Threads(MailStore(table), CrmProjection(table))


class Unauthenticated(PermissionError):
    """The verified token lacks the claims that name the tenant and the user."""


class InvalidBody(ValueError):
    """The request body does not match its model."""


def _caller() -> tuple[str, str]:
    """(tenant, user) from the verified token; refused when either claim is missing."""
    settings = api_settings()
    claims = app.current_event.request_context.authorizer.jwt_claim
    tenant, user = claims.get(settings.tenant_claim), claims.get(settings.user_claim)
    if not is_tenant_id(tenant) or not isinstance(user, str) or not user:
        raise Unauthenticated(
            f"the token carries no usable {settings.tenant_claim!r} and {settings.user_claim!r} claims"
        )
    return str(tenant), user


@app.get("/v1/threads/<thread_id>")
def get_thread(thread_id: str) -> Response[str]:
    """The thread and the messages the caller may see, oldest first."""
    tenant, user = _caller()
    cursor = (app.current_event.query_string_parameters or {}).get("cursor")
    page = threads().read(tenant, user, thread_id, cursor)
    return json_response(200, page.model_dump(mode="json", by_alias=True))


@app.post("/v1/threads/<thread_id>/deal")
def choose_deal(thread_id: str) -> Response[str]:
    """Settle which deal a thread belongs to (``mail.needs_deal_choice`` asked for it)."""
    tenant, user = _caller()
    try:
        choice = DealChoice.model_validate(app.current_event.json_body or {})
    except (ValidationError, ValueError) as exc:
        raise InvalidBody('expected {"dealId": "<deal id>"}') from exc
    chosen = threads().choose_deal(tenant, user, thread_id, choice.deal_id, datetime.now(UTC).isoformat())
    metrics.add_metric(name="DealsChosen", unit=MetricUnit.Count, value=1)
    return json_response(200, chosen.model_dump(mode="json", by_alias=True))


# The one place the library's refusals become HTTP answers.
_REFUSALS: dict[type[Exception], tuple[int, str]] = {
    Unauthenticated: (403, "forbidden"),
    NotAUser: (403, "forbidden"),
    UnknownThread: (404, "not_found"),
    UnknownDeal: (422, "unknown_deal"),
    InvalidBody: (400, "invalid_body"),
    InvalidCursor: (400, "invalid_cursor"),
}
_MESSAGES: dict[type[Exception], str] = {
    UnknownThread: "no such thread",
    UnknownDeal: "the deal is not known or was deleted",
}


def _refused(error: Exception) -> Response[str]:
    status, code = _REFUSALS[type(error)]
    return error_response(status, code, _MESSAGES.get(type(error), str(error)))


for _refusal in _REFUSALS:
    app.exception_handler(_refusal)(_refused)

register_fallbacks(
    app,
    routes="GET /v1/threads/{id} or POST /v1/threads/{id}/deal",
    failed="the request failed; retry it",
    metric="ApiFailed",
)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
