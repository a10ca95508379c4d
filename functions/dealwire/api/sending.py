"""A document sent by hand from a template: ``POST /v1/deals/{dealId}/envelopes``.

The same rules as a stage automation's: one active signing process per deal and
template (a second is refused with 409 unless the caller says ``replace``), the envelope
created once under a send id (DocuSign's ``transactionId``), recorded in the envelope
table with who sent it. A draft is created unsent and answered with DocuSign's sender
view, where the user places fields and sends; the Connect callbacks that follow record it.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from dealwire.api.errors import Conflict, InvalidRequest, NotFound, with_docusign
from dealwire.automation.plan import notification_of
from dealwire.automation.process import (
    ProcessBusy,
    create_once,
    now_iso,
    parsed,
    record_created,
    still_active,
)
from dealwire.contracts.sending import ManualSent
from dealwire.docusign.envelopes import EnvelopeRequest, EnvelopeSender, Recipient

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dealwire.contracts.sending import ManualRecipient, ManualSend
    from dealwire.docusign.client import DocuSignClient
    from dealwire.docusign.envelopes import TemplateDetail
    from dealwire.store.automation import AutomationStore
    from dealwire.store.envelopes import EnvelopeStore
    from dealwire.store.tenants import TenantConfig, TenantDirectory


def process_of(template_id: str) -> str:
    """The (deal, template) signing process's name beside the rules' (a template id may hold anything)."""
    return "template-" + hashlib.sha256(template_id.encode()).hexdigest()[:24]


class ManualSends:
    def __init__(
        self,
        *,
        automation: AutomationStore,
        envelopes: EnvelopeStore,
        tenants: TenantDirectory,
        docusign: Callable[[TenantConfig], DocuSignClient],
    ) -> None:
        self._automation = automation
        self._envelopes = envelopes
        self._tenants = tenants
        self._docusign = docusign

    def send(
        self, tenant_id: str, user_id: str, deal_id: str, request: ManualSend, idempotency_key: str | None
    ) -> ManualSent:
        tenant = self._tenants.get(tenant_id)
        if tenant is None or not tenant.docusign_user_id:
            raise Conflict("the account is not connected to DocuSign", code="not_connected")
        sender = EnvelopeSender(self._docusign(tenant))
        template = self._template(sender, request.template_id)
        self._check_roles(request, template)
        process = process_of(request.template_id)
        seed = f"{tenant_id}\n{deal_id}\n{request.template_id}\n{idempotency_key or uuid.uuid4().hex}"
        send = hashlib.sha256(seed.encode()).hexdigest()[:32]
        detail = {"document_type": f"template:{request.template_id}", "template_id": request.template_id,
                  "draft": request.draft, "sent_by": user_id}  # fmt: skip
        claim = self._automation.claim(
            tenant_id, deal_id, process, send=send, stage_event=None, at=now_iso(), detail=detail
        )
        replaced: str | None = None
        if claim.outcome == "held" and claim.holder is not None:
            holder = claim.holder
            try:
                holding = still_active(
                    self._envelopes,
                    tenant_id,
                    holder,
                    lambda send_id, since: with_docusign(lambda: sender.find(send_id, since)),
                )
            except ProcessBusy as exc:
                raise Conflict(
                    "another send for this deal and template is under way; retry shortly",
                    code="busy",
                    retry_after=2,
                ) from exc
            active = holding.envelope_id if holding else None
            if active and not request.replace:
                raise Conflict(
                    f"envelope {active} from template {request.template_id} is still out for signature "
                    "on the deal: void it, or send with replace",
                    code="signing_process_active",
                )
            if active:
                sender.void_if_out(active, f"Replaced by a new envelope for deal {deal_id}")
                replaced = active
            claim = self._automation.claim(
                tenant_id, deal_id, process, send=send, stage_event=None, at=now_iso(), detail=detail,
                take_from=str(holder["send_id"]),
            )  # fmt: skip
            if claim.outcome == "held":
                raise Conflict("another send for this deal and template just began; retry", code="busy")
        if claim.outcome == "ours" and claim.state == "sent" and claim.envelope_id:
            return self._answer(sender, request, claim.envelope_id, send, replaced)
        envelope = EnvelopeRequest(
            template_id=request.template_id,
            recipients=tuple(self._recipient(r) for r in request.recipients),
            email_subject=request.email_subject,
            email_blurb=request.email_message,
            send_id=send,
            custom_fields={"dealwire_deal_id": deal_id, "dealwire_sent_by": user_id},
            notification=notification_of(request.reminders, request.expiration),
            draft=request.draft,
        )
        since = parsed(claim.claimed_at) if claim.claimed_at else None
        found = with_docusign(lambda: sender.find(send, since)) if claim.outcome == "ours" and since else None
        try:
            created = found or with_docusign(lambda: create_once(sender, envelope))
        except InvalidRequest as exc:
            self._automation.record_failed(
                tenant_id,
                deal_id,
                process,
                send=send,
                reason="docusign_refused",
                detail=exc.message,
                at=now_iso(),
            )
            raise
        record_created(
            self._envelopes,
            self._automation,
            tenant=tenant,
            deal_id=deal_id,
            process=process,
            send=send,
            created=created,
            extra={"sent_by": f"user:{user_id}", "template_id": request.template_id},
        )
        return self._answer(sender, request, created.envelope_id, send, replaced)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _template(sender: EnvelopeSender, template_id: str) -> TemplateDetail:
        found = with_docusign(lambda: sender.template_or_none(template_id))
        if found is None:
            raise NotFound(f"the account has no template {template_id}", code="template_not_found")
        return found

    @staticmethod
    def _check_roles(request: ManualSend, template: TemplateDetail) -> None:
        roles = {role.role_name: role for role in template.roles}
        for recipient in request.recipients:
            role = roles.get(recipient.role_name)
            if role is None:
                raise InvalidRequest(
                    f"recipients: template {template.template_id} has no role {recipient.role_name!r}; "
                    f"its roles: {', '.join(roles) or 'none'}",
                    code="role_not_in_template",
                )
            if role.kind != recipient.type:
                raise InvalidRequest(
                    f"recipients: {recipient.role_name} is a {role.kind} in the template, "
                    f"not a {recipient.type}",
                    code="role_type_differs",
                )
        if not template.documents:
            raise InvalidRequest(
                f"template {template.template_id} has no documents", code="template_has_no_documents"
            )

    @staticmethod
    def _recipient(chosen: ManualRecipient) -> Recipient:
        phone = (chosen.phone.country_code, chosen.phone.number) if chosen.phone else None
        return Recipient(
            role_name=chosen.role_name,
            name=chosen.name,
            email=chosen.email,
            routing_order=chosen.routing_order,
            delivery=chosen.delivery,
            phone=phone,
            email_subject=chosen.email_subject,
            email_body=chosen.email_body,
        )

    @staticmethod
    def _answer(
        sender: EnvelopeSender, request: ManualSend, envelope_id: str, send: str, replaced: str | None
    ) -> ManualSent:
        view = None
        if request.draft and request.return_url:
            url = request.return_url
            view = with_docusign(lambda: sender.sender_view(envelope_id, url))
        return ManualSent(
            envelope_id=envelope_id,
            status="created" if request.draft else "sent",
            send_id=send,
            sender_view_url=view,
            replaced_envelope_id=replaced,
        )


class IdempotentSends:
    """``ManualSends`` behind Powertools idempotency, keyed by the caller's ``Idempotency-Key``.

    A CRM that retries its POST with the same key gets the first answer (for 24 hours); the
    same key with another body is refused; a retry while the first is still running is told
    to wait. Records live in the table under the tenant (``IDEMPOTENCY``), expired by its TTL.
    """

    def __init__(
        self, sends: ManualSends, table_name: str, *, expires_after_seconds: int = 24 * 3600
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig  # noqa: PLC0415

        self._sends = sends
        self._table = table_name
        self._per_tenant: dict[str, Any] = {}
        # The same key for the same deal is the same request; a changed body under it is refused.
        self._config = IdempotencyConfig(
            event_key_jmespath="[deal, key]",
            payload_validation_jmespath="[user, body]",
            expires_after_seconds=expires_after_seconds,
        )

    def register(self, context: LambdaContext) -> None:
        """A send cut off by the invocation's end may be retried after it, not a day later."""
        self._config.register_lambda_context(context)

    def send(
        self, tenant_id: str, user_id: str, deal_id: str, request: ManualSend, key: str | None
    ) -> dict[str, Any]:
        if key is None:
            return self._sends.send(tenant_id, user_id, deal_id, request, None).model_dump(
                mode="json", by_alias=True
            )
        payload = {
            "user": user_id,
            "deal": deal_id,
            "key": key,
            "body": request.model_dump(mode="json", by_alias=True),
        }
        from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        try:
            result: dict[str, Any] = self._function(tenant_id)(payload=payload)
        except IdempotencyValidationError as exc:
            raise Conflict(
                "Idempotency-Key: this key was used for another request to this deal; use a new key",
                code="idempotency_key_reused",
            ) from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise Conflict(
                "Idempotency-Key: the first request with this key is still being sent; retry shortly",
                code="in_progress",
                retry_after=2,
            ) from exc
        return result

    def _function(self, tenant_id: str) -> Any:  # noqa: ANN401 - Powertools' decorated function
        if tenant_id in self._per_tenant:
            return self._per_tenant[tenant_id]
        from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
            DynamoDBPersistenceLayer,
            idempotent_function,
        )

        from dealwire.contracts.sending import ManualSend as Body  # noqa: PLC0415
        from dealwire.store import clients, table  # noqa: PLC0415

        store = DynamoDBPersistenceLayer(
            self._table,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value=table.idempotency_partition(tenant_id),
            expiry_attr=table.TTL_ATTRIBUTE,
            boto3_client=clients.dynamodb(),
        )
        sends = self._sends

        def send(payload: dict[str, Any]) -> dict[str, Any]:
            sent = sends.send(
                tenant_id,
                payload["user"],
                payload["deal"],
                Body.model_validate(payload["body"]),
                payload["key"],
            )
            answer: dict[str, Any] = sent.model_dump(mode="json", by_alias=True)
            return answer

        wrapped = idempotent_function(
            data_keyword_argument="payload", persistence_store=store, config=self._config
        )(send)
        self._per_tenant[tenant_id] = wrapped
        return wrapped
