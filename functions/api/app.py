"""api: the CRM's HTTP API. API Gateway's JWT authorizer has verified the caller's token.

The tenant and the user come from the token's claims, never from the request: every read
and write is keyed by the caller's tenant, and threads by what the caller may see.
Requests and answers are the pydantic models of ``dealwire.contracts.api``; Powertools
validates them and writes the OpenAPI document (docs/openapi.json) from these routes.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from dealwire.api.envelopes import Envelopes
from dealwire.api.errors import ApiRefusal, Forbidden, InvalidRequest, TooManyRequests, UnsupportedBody
from dealwire.api.threads import Threads
from dealwire.contracts.api import (
    DealChoice,
    DealChosen,
    DocumentLink,
    EnvelopePage,
    EnvelopeView,
    ErrorBody,
    GatewayMessage,
    ThreadList,
    ThreadPage,
    VoidAccepted,
    VoidRequest,
)
from dealwire.domain.ids import CRM_ID_PATTERN, DOCUSIGN_ID_PATTERN, THREAD_ID_PATTERN, is_tenant_id
from dealwire.http import api_error, json_body_refusal, json_response, register_fallbacks
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import api_settings
from dealwire.store.archive import Archive
from dealwire.store.crm import CrmProjection
from dealwire.store.docusign_app import docusign_client_factory
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.mail import MailStore
from dealwire.store.table import InvalidCursor, Throttled, error_code, is_throttling
from dealwire.store.tenants import TenantDirectory

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = APIGatewayHttpResolver(enable_validation=True)

# A read has nothing to count (API Gateway counts requests, errors and latency per route);
# Powertools would warn on every one. Powertools' documented filter, for this function only.
warnings.filterwarnings("ignore", "No application metrics to publish*")

Cursor = Annotated[str | None, Query(description="The cursor of the previous page", max_length=2048)]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page")]
DealId = Annotated[str, Path(pattern=CRM_ID_PATTERN, description="The CRM's deal id")]
PersonId = Annotated[str, Path(pattern=CRM_ID_PATTERN, description="The CRM's person id")]
EnvelopeId = Annotated[str, Path(pattern=DOCUSIGN_ID_PATTERN, description="DocuSign's envelope id")]
ThreadId = Annotated[str, Path(pattern=THREAD_ID_PATTERN, description="dealwire's thread id")]
DocumentId = Annotated[
    str, Path(pattern=DOCUSIGN_ID_PATTERN, description="combined, certificate, or one of the envelope's ids")
]


def _error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}


_ERRORS: dict[int, OpenAPIResponse] = {
    400: _error("The request is invalid; the message names the field"),
    401: {
        "description": "No valid bearer token (answered by the JWT authorizer, not the function)",
        "content": {"application/json": {"model": GatewayMessage}},
    },
    403: _error("The token names no tenant and user, or the user is not an active user"),
    404: _error("No such thing in the caller's tenant, or nothing the caller may see"),
    429: _error("Too many requests; retry after Retry-After seconds"),
}
_CONFLICT: dict[int, OpenAPIResponse] = {409: _error("The state does not allow it (the code names it)")}


_UPSTREAM: dict[int, OpenAPIResponse] = {502: _error("DocuSign did not answer or refused; retry later")}
_JSON_BODY: dict[int, OpenAPIResponse] = {415: _error("The body is not application/json")}


def _answers(ok: str, *, docusign: bool = False, body: bool = False) -> dict[int, OpenAPIResponse]:
    """A route's documented answers: 200 with its return model, and the refusals it may give
    (a route that acts through DocuSign adds a state conflict and DocuSign's own failure;
    one that takes a body, a refused content type)."""
    answers: dict[int, OpenAPIResponse] = {200: {"description": ok}, **_ERRORS}
    if docusign:
        answers |= {**_CONFLICT, **_UPSTREAM}
    if body:
        answers |= _JSON_BODY
    return answers


_LINK: OpenAPIResponse = {
    "description": "With ?redirect=false: the link",
    "content": {"application/json": {"model": DocumentLink}},
}


@cache
def envelopes() -> Envelopes:
    """Built on the first request; a missing or malformed setting fails it, by name."""
    settings = api_settings()
    return Envelopes(
        envelopes=EnvelopeStore(settings.table_name),
        documents=Archive(settings.documents_bucket),
        tenants=TenantDirectory(settings.tenant_secret_prefix, settings.tenant_cache_seconds),
        docusign=docusign_client_factory(
            settings.docusign_app_secret, settings.docusign_auth_host, settings.docusign_base_uri or None
        ),
        link_seconds=settings.link_seconds,
    )


@cache
def threads() -> Threads:
    settings = api_settings()
    return Threads(
        MailStore(settings.table_name),
        CrmProjection(settings.table_name),
        Archive(settings.mail_bucket),
        settings.link_seconds,
    )


def _caller() -> tuple[str, str]:
    """(tenant, user) from the verified token; refused when either claim is missing."""
    settings = api_settings()
    claims = app.current_event.request_context.authorizer.jwt_claim
    tenant, user = claims.get(settings.tenant_claim), claims.get(settings.user_claim)
    if not is_tenant_id(tenant) or not isinstance(user, str) or not user:
        raise Forbidden(
            f"the token carries no usable {settings.tenant_claim!r} and {settings.user_claim!r} claims"
        )
    return str(tenant), user


def _active_caller() -> tuple[str, str]:
    tenant, user = _caller()
    threads().require_user(tenant, user)
    return tenant, user


@app.get(
    "/v1/deals/<deal_id>/envelopes",
    summary="A deal's envelopes",
    description="The deal's envelopes, newest first.",
    responses=_answers("The deal's envelopes"),
    tags=["envelopes"],
)
def deal_envelopes(deal_id: DealId, cursor: Cursor = None, limit: Limit = 25) -> EnvelopePage:
    tenant, _ = _active_caller()
    return envelopes().of_deal(tenant, deal_id, limit=limit, cursor=cursor)


@app.get(
    "/v1/envelopes/<envelope_id>",
    summary="An envelope's tracker",
    description=(
        'Status, times, recipients in routing order, "signed / signers", the rule or user that '
        "sent it, and which documents can be downloaded now."
    ),
    responses=_answers("The envelope's tracker"),
    tags=["envelopes"],
)
def envelope(envelope_id: EnvelopeId) -> EnvelopeView:
    tenant, _ = _active_caller()
    return envelopes().tracker(tenant, envelope_id)


@app.get(
    "/v1/envelopes/<envelope_id>/documents/<document_id>",
    summary="A document's short-lived link",
    description=(
        "`combined` (the signed PDF) or `certificate` once the envelope is completed and they "
        "are stored (409 before), or one of the envelope's documents as DocuSign serves it now. "
        "A 302 to a presigned S3 link; `?redirect=false` answers the link as JSON."
    ),
    responses={
        200: _LINK,
        302: {"description": "A redirect to a short-lived link to the PDF"},
        **_ERRORS,
        **_CONFLICT,
        **_UPSTREAM,
    },
    tags=["envelopes"],
)
def document(
    envelope_id: EnvelopeId,
    document_id: DocumentId,
    redirect: Annotated[bool, Query(description="false: answer the link as JSON")] = True,
) -> Response[str]:
    tenant, _ = _active_caller()
    link = envelopes().document(tenant, envelope_id, document_id)
    metrics.add_metric(name="DocumentLinks", unit=MetricUnit.Count, value=1)
    if not redirect:
        return json_response(200, link.model_dump(mode="json", by_alias=True))
    return Response(status_code=302, headers={"Location": link.url}, body="")


@app.post(
    "/v1/envelopes/<envelope_id>/void",
    summary="Void an envelope",
    description=(
        'Voids the envelope in DocuSign (the tracker\'s "delete envelope") and records who asked '
        "and why; the Connect callback that follows records the void. Only an envelope out for "
        "signature can be voided (409 naming its state)."
    ),
    responses=_answers("Voided", docusign=True, body=True),
    tags=["envelopes"],
)
def void(envelope_id: EnvelopeId, request: Annotated[VoidRequest, Body()]) -> VoidAccepted:
    tenant, user = _active_caller()
    accepted = envelopes().void(tenant, user, envelope_id, request.reason)
    metrics.add_metric(name="EnvelopesVoided", unit=MetricUnit.Count, value=1)
    return accepted


_FILTERED_PAGES = (
    "Threads the caller may not see are left out of a page, so a page can hold fewer than "
    "`limit` (even none) and still have a `cursor`: follow it until it is null."
)


@app.get(
    "/v1/deals/<deal_id>/threads",
    summary="A deal's threads",
    description=f"The deal's threads the caller may see, newest first. {_FILTERED_PAGES}",
    responses=_answers("The deal's threads"),
    tags=["threads"],
)
def deal_threads(deal_id: DealId, cursor: Cursor = None, limit: Limit = 25) -> ThreadList:
    tenant, user = _caller()
    return threads().of_deal(tenant, user, deal_id, limit=limit, cursor=cursor)


@app.get(
    "/v1/persons/<person_id>/threads",
    summary="A contact's threads",
    description=f"The contact's threads the caller may see, newest first. {_FILTERED_PAGES}",
    responses=_answers("The contact's threads"),
    tags=["threads"],
)
def person_threads(person_id: PersonId, cursor: Cursor = None, limit: Limit = 25) -> ThreadList:
    tenant, user = _caller()
    return threads().of_person(tenant, user, person_id, limit=limit, cursor=cursor)


@app.get(
    "/v1/threads/<thread_id>",
    summary="A thread and its messages",
    description=(
        "The thread and a page of the messages the caller may see, oldest first, each part "
        "(bodies and attachments) a presigned link."
    ),
    responses=_answers("The thread and a page of its messages"),
    tags=["threads"],
)
def thread(thread_id: ThreadId, cursor: Cursor = None) -> ThreadPage:
    tenant, user = _caller()
    return threads().read(tenant, user, thread_id, cursor)


@app.post(
    "/v1/threads/<thread_id>/deal",
    summary="Choose a thread's deal",
    description=(
        "Settles which deal the thread belongs to (`mail.needs_deal_choice` asked for it); only "
        "a user who can see the thread may."
    ),
    responses=_answers("The thread's deal", body=True),
    tags=["threads"],
)
def choose_deal(thread_id: ThreadId, choice: Annotated[DealChoice, Body()]) -> DealChosen:
    tenant, user = _caller()
    chosen = threads().choose_deal(tenant, user, thread_id, choice.deal_id, datetime.now(UTC).isoformat())
    metrics.add_metric(name="DealsChosen", unit=MetricUnit.Count, value=1)
    return chosen


# -- the one place refusals become answers ------------------------------------------------------


def _answer(refusal: ApiRefusal) -> Response[str]:
    answer = api_error(refusal.status, refusal.code, refusal.message)
    if refusal.retry_after is not None:
        answer.headers["Retry-After"] = str(refusal.retry_after)
    return answer


@app.exception_handler(ApiRefusal)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def refused(refusal: ApiRefusal) -> Response[str]:
    return _answer(refusal)


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def invalid(error: RequestValidationError) -> Response[str]:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in item.get('loc', ()) if part != 'body')}: {item.get('msg', '')}"
        for item in error.errors()[:5]
    )
    return _answer(InvalidRequest(problems or "the request is invalid"))


@app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
def unsupported_body(_: RequestUnsupportedContentType) -> Response[str]:
    return _answer(UnsupportedBody("the body must be application/json"))


@app.exception_handler(InvalidCursor)  # type: ignore[untyped-decorator]
def bad_cursor(error: InvalidCursor) -> Response[str]:
    return _answer(InvalidRequest(f"cursor: {error}", code="invalid_cursor"))


unexpected = register_fallbacks(
    app,
    routes="the routes are listed in docs/openapi.json",
    failed="the request failed; retry it",
    metric="ApiFailed",
    nested=True,
)


def _busy(what: str) -> Response[str]:
    logger.warning("throttled", extra={"what": what})
    metrics.add_metric(name="ApiThrottled", unit=MetricUnit.Count, value=1)
    return _answer(TooManyRequests("dealwire's storage is busy; retry shortly", retry_after=1))


@app.exception_handler(Throttled)  # type: ignore[untyped-decorator]
def throttled(error: Throttled) -> Response[str]:
    return _busy(str(error))


@app.exception_handler(ClientError)  # type: ignore[untyped-decorator]
def aws_failed(error: ClientError) -> Response[str]:
    """AWS over its rate after botocore's retries is the caller's 429; anything else, a 500."""
    if is_throttling(error):
        return _busy(f"{error.operation_name}: {error_code(error)}")
    return unexpected(error)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return json_body_refusal(event) or app.resolve(event, context)
