"""What every function behind the CRM API shares: its resolver and refusals, the caller, the answers.

The CRM API (``api``) and the integrations function (``integrations``) are two functions
behind one HTTP API, so that only the one that connects a tenant may write its secret;
a caller must not tell them apart. Both build their resolver here: refusals become
``{"error": {"code", "message"}}`` with their status, validation failures a 400 naming
the field, AWS throttling a 429, anything else a logged and counted 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from dealwire.api.errors import ApiRefusal, Forbidden, InvalidRequest, TooManyRequests, UnsupportedBody
from dealwire.contracts.api import ErrorBody, GatewayMessage
from dealwire.domain.ids import is_tenant_id
from dealwire.http import api_error, register_fallbacks
from dealwire.observability import logger, metrics
from dealwire.store.table import InvalidCursor, Throttled, error_code, is_throttling

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

    from dealwire.store.crm import CrmProjection


def error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}


ERRORS: dict[int, OpenAPIResponse] = {
    400: error("The request is invalid; the message names the field"),
    401: {
        "description": "No valid bearer token (answered by the JWT authorizer, not the function)",
        "content": {"application/json": {"model": GatewayMessage}},
    },
    403: error("The token names no tenant and user, or the user is not an active user"),
    404: error("No such thing in the caller's tenant, or nothing the caller may see"),
    429: error("Too many requests; retry after Retry-After seconds"),
}
CONFLICT: dict[int, OpenAPIResponse] = {409: error("The state does not allow it (the code names it)")}
UPSTREAM: dict[int, OpenAPIResponse] = {502: error("DocuSign did not answer or refused; retry later")}
JSON_BODY: dict[int, OpenAPIResponse] = {415: error("The body is not application/json")}


def answers(ok: str, *, docusign: bool = False, body: bool = False) -> dict[int, OpenAPIResponse]:
    """A route's documented answers: 200 with its return model, and the refusals it may give
    (a route that acts through DocuSign adds a state conflict and DocuSign's own failure;
    one that takes a body, a refused content type)."""
    documented: dict[int, OpenAPIResponse] = {200: {"description": ok}, **ERRORS}
    if docusign:
        documented |= {**CONFLICT, **UPSTREAM}
    if body:
        documented |= JSON_BODY
    return documented


def _problem(item: dict[str, Any]) -> str:
    """``field: what is wrong``; a problem of the whole body (two fields that clash) names none."""
    where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
    message = str(item.get("msg", ""))
    return f"{where}: {message}" if where else message


def answer(refusal: ApiRefusal) -> Response[str]:
    response = api_error(refusal.status, refusal.code, refusal.message)
    if refusal.retry_after is not None:
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def crm_resolver(*, failed_metric: str, throttled_metric: str) -> APIGatewayHttpResolver:
    """A validating resolver that answers every refusal as the CRM API does."""
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(ApiRefusal)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
    def refused(refusal: ApiRefusal) -> Response[str]:
        return answer(refusal)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def invalid(failure: RequestValidationError) -> Response[str]:
        problems = "; ".join(_problem(item) for item in failure.errors()[:5])
        return answer(InvalidRequest(problems or "the request is invalid"))

    @app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
    def unsupported_body(_: RequestUnsupportedContentType) -> Response[str]:
        return answer(UnsupportedBody("the body must be application/json"))

    @app.exception_handler(InvalidCursor)  # type: ignore[untyped-decorator]
    def bad_cursor(failure: InvalidCursor) -> Response[str]:
        return answer(InvalidRequest(f"cursor: {failure}", code="invalid_cursor"))

    unexpected = register_fallbacks(
        app,
        routes="the routes are listed in docs/openapi.json",
        failed="the request failed; retry it",
        metric=failed_metric,
        nested=True,
    )

    def busy(what: str) -> Response[str]:
        logger.warning("throttled", extra={"what": what})
        metrics.add_metric(name=throttled_metric, unit=MetricUnit.Count, value=1)
        return answer(TooManyRequests("dealwire's storage is busy; retry shortly", retry_after=1))

    @app.exception_handler(Throttled)  # type: ignore[untyped-decorator]
    def throttled(failure: Throttled) -> Response[str]:
        return busy(str(failure))

    @app.exception_handler(ClientError)  # type: ignore[untyped-decorator]
    def aws_failed(failure: ClientError) -> Response[str]:
        """AWS over its rate after botocore's retries is the caller's 429; anything else, a 500."""
        if is_throttling(failure):
            return busy(f"{failure.operation_name}: {error_code(failure)}")
        return unexpected(failure)

    return app


def caller(app: APIGatewayHttpResolver, tenant_claim: str, user_claim: str) -> tuple[str, str]:
    """(tenant, user) from the verified token; refused when either claim is missing."""
    claims = app.current_event.request_context.authorizer.jwt_claim
    tenant, user = claims.get(tenant_claim), claims.get(user_claim)
    if not is_tenant_id(tenant) or not isinstance(user, str) or not user:
        raise Forbidden(f"the token carries no usable {tenant_claim!r} and {user_claim!r} claims")
    return str(tenant), user


def claim(app: APIGatewayHttpResolver, name: str) -> str | None:
    """One claim of the verified token as text (API Gateway passes scalars as strings)."""
    value = app.current_event.request_context.authorizer.jwt_claim.get(name)
    return value if isinstance(value, str) else None


def require_role(app: APIGatewayHttpResolver, role_claim: str, role: str, needed_for: str) -> None:
    """Refused unless the verified token's ``role_claim`` is ``role`` (a tenant admin, say)."""
    if claim(app, role_claim) != role:
        raise Forbidden(f"{needed_for} needs the {role!r} role")


def require_active_user(users: CrmProjection, tenant_id: str, user_id: str) -> None:
    """Refused unless the caller is an active user of the tenant in the CRM projection."""
    user = users.user(tenant_id, user_id)
    if user is None or not user.active:
        raise Forbidden(f"{user_id!r} is not an active user of the account")
