"""api: the CRM's HTTP API. API Gateway's JWT authorizer has verified the caller's token.

The tenant and the user come from the token's claims, never from the request: every read
and write is keyed by the caller's tenant, and threads by what the caller may see. Any
active user may read; changing an automation rule takes a tenant admin (the role claim).
Requests and answers are the pydantic models of ``dealwire.contracts.api``; Powertools
validates them and writes the OpenAPI document (docs/openapi.json) from these routes.
"""

from __future__ import annotations

import time
import warnings
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.metrics import MetricUnit

from dealwire.api.deals import Deals
from dealwire.api.envelopes import Envelopes
from dealwire.api.errors import NotFound
from dealwire.api.part_links import LINK_PATH, PartLink, PartLinks, secret_key
from dealwire.api.resolver import (
    CONFLICT,
    ERRORS,
    UPSTREAM,
    answers,
    caller,
    crm_resolver,
    error,
    require_role,
)
from dealwire.api.rules import Rules
from dealwire.api.sending import IdempotentSends, ManualSends
from dealwire.api.templates import Templates
from dealwire.api.threads import Threads
from dealwire.automation.rules import RuleDefinition  # noqa: TC001 - Powertools reads the routes' annotations
from dealwire.contracts.api import (
    DealChoice,
    DealChosen,
    DealPage,
    DealView,
    DocumentLink,
    EnvelopePage,
    EnvelopeView,
    ThreadList,
    ThreadPage,
    VoidAccepted,
    VoidRequest,
)
from dealwire.contracts.automation import (  # noqa: TC001 - Powertools reads the routes' annotations
    RuleDeleted,
    RulePage,
    RuleUpdate,
    RuleView,
    TemplateList,
    TemplateView,
)
from dealwire.contracts.sending import ManualSend, ManualSent
from dealwire.domain.ids import CRM_ID_PATTERN, DOCUSIGN_ID_PATTERN, RULE_ID_PATTERN, THREAD_ID_PATTERN
from dealwire.http import json_body_refusal, json_response
from dealwire.observability import logger, metrics, tracer
from dealwire.settings import api_settings
from dealwire.store.archive import PACKED_PART_BYTES, Archive, content_disposition
from dealwire.store.automation import AutomationStore, RuleStore
from dealwire.store.crm import CrmProjection
from dealwire.store.docusign_app import DocuSignAccess, spending_access
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.mail import MailStore
from dealwire.store.tenants import TenantDirectory

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dealwire.docusign.client import DocuSignClient
    from dealwire.store.tenants import TenantConfig

app = crm_resolver(failed_metric="ApiFailed", throttled_metric="ApiThrottled")

# A read has nothing to count (API Gateway counts requests, errors and latency per route);
# Powertools would warn on every one. Powertools' documented filter, for this function only.
warnings.filterwarnings("ignore", "No application metrics to publish*")

Cursor = Annotated[str | None, Query(description="The cursor of the previous page", max_length=2048)]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page")]
DealId = Annotated[str, Path(pattern=CRM_ID_PATTERN, description="The CRM's deal id")]
PersonId = Annotated[str, Path(pattern=CRM_ID_PATTERN, description="The CRM's person id")]
EnvelopeId = Annotated[str, Path(pattern=DOCUSIGN_ID_PATTERN, description="DocuSign's envelope id")]
ThreadId = Annotated[str, Path(pattern=THREAD_ID_PATTERN, description="dealwire's thread id")]
RuleId = Annotated[str, Path(pattern=RULE_ID_PATTERN, description="dealwire's rule id: 32 hex digits")]
TemplateId = Annotated[str, Path(pattern=DOCUSIGN_ID_PATTERN, description="DocuSign's template id")]
DocumentId = Annotated[
    str, Path(pattern=DOCUSIGN_ID_PATTERN, description="combined, certificate, or one of the envelope's ids")
]


_LINK: OpenAPIResponse = {
    "description": "With ?redirect=false: the link",
    "content": {"application/json": {"model": DocumentLink}},
}


@cache
def tenants() -> TenantDirectory:
    settings = api_settings()
    return TenantDirectory(settings.tenant_secret_prefix, settings.tenant_cache_seconds)


@cache
def docusign_access() -> DocuSignAccess:
    """One DocuSign client per tenant for every route (so one token); what the routes spend goes
    in the tenant's hourly budget."""
    return spending_access(api_settings(), "api")


def docusign() -> Callable[[TenantConfig], DocuSignClient]:
    return docusign_access().for_tenant


@cache
def deals() -> Deals:
    return Deals(CrmProjection(api_settings().table_name))


@cache
def envelopes() -> Envelopes:
    """Built on the first request; a missing or malformed setting fails it, by name."""
    settings = api_settings()
    return Envelopes(
        envelopes=EnvelopeStore(settings.table_name),
        documents=Archive(settings.documents_bucket),
        tenants=tenants(),
        docusign=docusign(),
        link_seconds=settings.link_seconds,
    )


@cache
def sends() -> IdempotentSends:
    settings = api_settings()
    return IdempotentSends(
        ManualSends(
            automation=AutomationStore(settings.table_name),
            envelopes=EnvelopeStore(settings.table_name),
            tenants=tenants(),
            docusign=docusign(),
        ),
        settings.table_name,
    )


@cache
def rules() -> Rules:
    return Rules(RuleStore(api_settings().table_name))


@cache
def templates() -> Templates:
    """Keeps the templates it read for a minute, in this container."""
    return Templates(tenants=tenants(), docusign=docusign())


@cache
def part_links() -> PartLinks:
    settings = api_settings()
    return PartLinks(secret_key(settings.part_link_secret, settings.tenant_cache_seconds))


@cache
def mail_parts() -> Archive:
    return Archive(api_settings().mail_bucket)


@cache
def threads() -> Threads:
    settings = api_settings()
    return Threads(
        MailStore(settings.table_name),
        CrmProjection(settings.table_name),
        mail_parts(),
        part_links(),
        settings.link_seconds,
    )


def _api_base() -> str:
    """This API's public root: the one configured, or the one the caller reached (its domain,
    and the stage's own path when it is not the default stage)."""
    configured = api_settings().public_base_url
    if configured:
        return configured.rstrip("/")
    event = app.current_event
    context = event.request_context
    scheme = (event.headers or {}).get("x-forwarded-proto", "https")
    stage = context.stage
    return f"{scheme}://{context.domain_name}" + ("" if stage in {None, "", "$default"} else f"/{stage}")


def _caller() -> tuple[str, str]:
    settings = api_settings()
    return caller(app, settings.tenant_claim, settings.user_claim)


def _active_caller() -> tuple[str, str]:
    tenant, user = _caller()
    threads().require_user(tenant, user)
    return tenant, user


def _admin() -> tuple[str, str]:
    """(tenant, user) of a caller who holds the admin role and is an active user of the tenant."""
    settings = api_settings()
    tenant, user = _caller()
    require_role(app, settings.role_claim, settings.admin_role, "changing automation rules")
    threads().require_user(tenant, user)
    logger.append_keys(tenant_id=tenant, user_id=user)
    return tenant, user


@app.get(
    "/v1/deals",
    summary="The deals",
    description="The tenant's deals as the CRM last published them, last updated first.",
    responses=answers("The deals"),
    tags=["deals"],
)
def list_deals(cursor: Cursor = None, limit: Limit = 25) -> DealPage:
    tenant, _ = _active_caller()
    return deals().page(tenant, limit=limit, cursor=cursor)


@app.get(
    "/v1/deals/<deal_id>",
    summary="A deal",
    description=(
        "The deal, its contacts, the last stage change applied, and what each automation rule did "
        "for it: sent (with its envelope), failed (with the reason), a repeat skipped."
    ),
    responses=answers("The deal"),
    tags=["deals"],
)
def deal(deal_id: DealId) -> DealView:
    tenant, _ = _active_caller()
    return deals().view(tenant, deal_id)


@app.get(
    "/v1/deals/<deal_id>/envelopes",
    summary="A deal's envelopes",
    description="The deal's envelopes, newest first.",
    responses=answers("The deal's envelopes"),
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
    responses=answers("The envelope's tracker"),
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
        **ERRORS,
        **CONFLICT,
        **UPSTREAM,
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
    responses=answers("Voided", docusign=True, body=True),
    tags=["envelopes"],
)
def void(envelope_id: EnvelopeId, request: Annotated[VoidRequest, Body()]) -> VoidAccepted:
    tenant, user = _active_caller()
    accepted = envelopes().void(tenant, user, envelope_id, request.reason)
    metrics.add_metric(name="EnvelopesVoided", unit=MetricUnit.Count, value=1)
    return accepted


@app.post(
    "/v1/deals/<deal_id>/envelopes",
    summary="Send a document from a template",
    description=(
        "Sends (or, with `draft`, creates unsent and answers DocuSign's sender view, where fields "
        "are placed and the envelope sent) an envelope from one of the account's templates to the "
        "recipients chosen for its roles. One signing process per deal and template: while one is "
        "out for signature this answers 409 `signing_process_active` unless `replace` voids it first. "
        "With an `Idempotency-Key` header a retried POST gets the first answer (24 hours); the same "
        "key with another body is 409 `idempotency_key_reused`."
    ),
    responses={**answers("Sent, or drafted with its sender view", docusign=True, body=True)},
    tags=["envelopes"],
)
def send(
    deal_id: DealId,
    request: Annotated[ManualSend, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(max_length=255, pattern=r"^[\x21-\x7e]+$", description="The CRM's key for this send"),
    ] = None,
) -> ManualSent:
    tenant, user = _active_caller()
    service = sends()
    service.register(app.lambda_context)
    sent = ManualSent.model_validate(service.send(tenant, user, deal_id, request, idempotency_key))
    metrics.add_metric(name="EnvelopesSentByHand", unit=MetricUnit.Count, value=1)
    logger.info("sent by hand", extra={"envelope_id": sent.envelope_id, "draft": request.draft})
    return sent


_FILTERED_PAGES = (
    "Threads the caller may not see are left out of a page, so a page can hold fewer than "
    "`limit` (even none) and still have a `cursor`: follow it until it is null."
)


@app.get(
    "/v1/deals/<deal_id>/threads",
    summary="A deal's threads",
    description=f"The deal's threads the caller may see, newest first. {_FILTERED_PAGES}",
    responses=answers("The deal's threads"),
    tags=["threads"],
)
def deal_threads(deal_id: DealId, cursor: Cursor = None, limit: Limit = 25) -> ThreadList:
    tenant, user = _caller()
    return threads().of_deal(tenant, user, deal_id, limit=limit, cursor=cursor)


@app.get(
    "/v1/persons/<person_id>/threads",
    summary="A contact's threads",
    description=f"The contact's threads the caller may see, newest first. {_FILTERED_PAGES}",
    responses=answers("The contact's threads"),
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
    responses=answers("The thread and a page of its messages"),
    tags=["threads"],
)
def thread(thread_id: ThreadId, cursor: Cursor = None) -> ThreadPage:
    tenant, user = _caller()
    return threads().read(tenant, user, thread_id, api_base=_api_base(), now=time.time(), cursor=cursor)


@app.get(
    LINK_PATH,
    summary="A mail part, through the link a thread gave",
    description=(
        "The bytes of a small attachment or body that is stored packed with the message's other "
        "small parts. The link comes from a thread's `parts[].url` and, like a presigned URL, needs "
        "no token: it is signed by the API and valid for as long as the thread's other links. A "
        "changed or expired link is refused with 403; read the thread again for a new one. The "
        "part is always answered as a download (Content-Disposition: attachment, sandboxed)."
    ),
    responses={
        200: {
            "description": "The part's bytes, with its type and name",
            "content": {"application/octet-stream": {}},
        },
        400: ERRORS[400],
        403: error("The link was changed or has expired (code bad_link or link_expired)"),
        404: error("The part is no longer stored"),
    },
    tags=["threads"],
    security=[{}],  # no token: the signature in the link is the authorization
)
def mail_part(  # type: ignore[no-untyped-def]  # noqa: ANN201 - see below
    *,
    key: Annotated[str, Query(max_length=1024, description="Where the part is kept")],
    offset: Annotated[int, Query(ge=0, description="Its first byte there")],
    size: Annotated[int, Query(ge=0, le=PACKED_PART_BYTES, description="Its length")],
    media_type: Annotated[str, Query(alias="type", max_length=255, description="Its content type")],
    expires: Annotated[int, Query(ge=0, description="Until when the link is valid (Unix seconds)")],
    signature: Annotated[str, Query(max_length=128, description="The API's signature of the link")],
    name: Annotated[str | None, Query(max_length=255, description="Its file name")] = None,
):
    # No return annotation on purpose: Powertools validates an annotated answer's body as JSON
    # text, which bytes are not; unannotated, a Response is sent as it is (base64, as bytes are).
    link = part_links().verify(PartLink(key, offset, size, media_type, name, expires), signature, time.time())
    data = mail_parts().read_range(link.key, link.offset, link.size)
    if data is None:
        raise NotFound("the part is no longer stored")
    # The part is what a stranger mailed: always a download, never a page of this API's
    # origin (an HTML body would otherwise run as one), and never sniffed into something else.
    headers = {
        "Cache-Control": "private, max-age=60",
        "Content-Disposition": content_disposition(link.filename) if link.filename else "attachment",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(status_code=200, content_type=link.content_type, body=data, headers=headers)


@app.post(
    "/v1/threads/<thread_id>/deal",
    summary="Choose a thread's deal",
    description=(
        "Settles which deal the thread belongs to (`mail.needs_deal_choice` asked for it); only "
        "a user who can see the thread may."
    ),
    responses=answers("The thread's deal", body=True),
    tags=["threads"],
)
def choose_deal(thread_id: ThreadId, choice: Annotated[DealChoice, Body()]) -> DealChosen:
    tenant, user = _caller()
    chosen = threads().choose_deal(tenant, user, thread_id, choice.deal_id, datetime.now(UTC).isoformat())
    metrics.add_metric(name="DealsChosen", unit=MetricUnit.Count, value=1)
    return chosen


# -- automation rules -------------------------------------------------------------------------

_RULES = ["automation rules"]
_ADMIN = (
    " Only a tenant admin may (the token's `dealwire:role` claim is `admin`, and the user is an "
    "active user of the account)."
)
_VERSIONED = (
    "409 `version_conflict` when the rule changed since `version` was read (the message names the "
    "current version: read the rule again); 404 when there is no such rule."
)


@app.get(
    "/v1/automation-rules",
    summary="The account's automation rules",
    description="Every rule of the account (at most 500), by rule id, paged (`?limit`, `?cursor`).",
    responses=answers("A page of rules"),
    tags=_RULES,
)
def list_rules(cursor: Cursor = None, limit: Annotated[int, Query(ge=1, le=100)] = 100) -> RulePage:
    tenant, _ = _active_caller()
    return rules().page(tenant, limit=limit, cursor=cursor)


@app.post(
    "/v1/automation-rules",
    summary="Create an automation rule",
    description=(
        "When a deal of `pipelineId` enters `stageId`, send `templateId` to the deal's contacts in "
        "`contactRoles` (primary contact first) and to `fixedRecipients`. The whole rule is checked: "
        "merge fields (`{{deal.title}}`, ...), roles named once, sms only for contact roles, reminders "
        "before expiration (400 naming the problem). Answers the rule at version 1. 409 "
        f"`too_many_rules` past 500 rules.{_ADMIN}"
    ),
    responses=answers("The new rule", body=True) | CONFLICT,
    tags=_RULES,
)
def create_rule(definition: Annotated[RuleDefinition, Body()]) -> RuleView:
    tenant, user = _admin()
    created = rules().create(tenant, user, definition)
    metrics.add_metric(name="RulesCreated", unit=MetricUnit.Count, value=1)
    logger.info("rule created", extra={"rule_id": created.rule_id})
    return created


@app.get(
    "/v1/automation-rules/<rule_id>",
    summary="An automation rule",
    description="The rule's definition, its version (what PUT and DELETE name) and its last change.",
    responses=answers("The rule"),
    tags=_RULES,
)
def get_rule(rule_id: RuleId) -> RuleView:
    tenant, _ = _active_caller()
    return rules().read(tenant, rule_id)


@app.put(
    "/v1/automation-rules/<rule_id>",
    summary="Change an automation rule",
    description=(
        "The rule's whole new definition, with the `version` the editor read (the rule as GET answers "
        f"it, without `ruleId`, `updatedAt` and `updatedBy`). Answers the rule at its next version. "
        f"{_VERSIONED}{_ADMIN}"
    ),
    responses=answers("The changed rule", body=True) | CONFLICT,
    tags=_RULES,
)
def update_rule(rule_id: RuleId, update: Annotated[RuleUpdate, Body()]) -> RuleView:
    tenant, user = _admin()
    changed = rules().update(tenant, user, rule_id, update)
    metrics.add_metric(name="RulesChanged", unit=MetricUnit.Count, value=1)
    logger.info("rule changed", extra={"rule_id": rule_id, "version": changed.version})
    return changed


@app.delete(
    "/v1/automation-rules/<rule_id>",
    summary="Delete an automation rule",
    description=f"Deletes the rule if it is still at `?version`. {_VERSIONED}{_ADMIN}",
    responses=answers("Deleted") | CONFLICT,
    tags=_RULES,
)
def delete_rule(
    rule_id: RuleId, version: Annotated[int, Query(ge=1, description="The rule's version as read")]
) -> RuleDeleted:
    tenant, _ = _admin()
    deleted = rules().delete(tenant, rule_id, version)
    metrics.add_metric(name="RulesDeleted", unit=MetricUnit.Count, value=1)
    logger.info("rule deleted", extra={"rule_id": rule_id, "version": version})
    return deleted


# -- DocuSign templates -----------------------------------------------------------------------

_TEMPLATES = ["templates"]
_KEPT = (
    " Read from the account's DocuSign through its connection and kept for a minute, so a "
    "dialog that asks again costs DocuSign nothing; 409 `not_connected` before the account is "
    "connected, `consent_required` when consent was withdrawn."
)


@app.get(
    "/v1/templates",
    summary="The account's DocuSign templates",
    description=f"The templates a rule can send (the first 500 DocuSign lists).{_KEPT}",
    responses=answers("The templates", docusign=True),
    tags=_TEMPLATES,
)
def list_templates() -> TemplateList:
    tenant, _ = _active_caller()
    return templates().list(tenant)


@app.get(
    "/v1/templates/<template_id>",
    summary="A DocuSign template's roles and documents",
    description=(
        "What a rule must fill: the template's roles in routing order (`fixed`: the template names "
        "the recipient itself), their text tabs (what `fieldMappings` can fill) and its documents. "
        f"404 when the account has no such template.{_KEPT}"
    ),
    responses=answers("The template", docusign=True),
    tags=_TEMPLATES,
)
def template(template_id: TemplateId) -> TemplateView:
    tenant, _ = _active_caller()
    return templates().detail(tenant, template_id)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return json_body_refusal(event) or app.resolve(event, context)
    finally:
        for problem in docusign_access().settle():
            logger.warning("the API budget was not recorded", extra={"problem": problem})
