"""Envelopes as the CRM shows them: a deal's list, one envelope's tracker, its documents, a void.

Every read is keyed by the caller's tenant, so another tenant's envelope is simply not
found. Documents are handed out as short-lived presigned S3 links: the signed PDF and
the certificate once the document job has stored them, one of the envelope's documents
whenever asked (fetched from DocuSign the first time at each count of signatures, then
kept).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from dealwire.api.errors import Conflict, NotFound, Unavailable, with_docusign
from dealwire.contracts.api import (
    DocumentAvailability,
    DocumentKind,
    DocumentLink,
    EnvelopePage,
    EnvelopeSummary,
    EnvelopeView,
    Person,
    RecipientView,
    SentBy,
    VoidAccepted,
    VoidRequested,
)
from dealwire.domain.envelope_event import EXPIRY
from dealwire.domain.ids import is_crm_id, is_docusign_id
from dealwire.domain.status import EnvelopeStatus
from dealwire.store.archive import original_document_key

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from dealwire.docusign.client import DocuSignClient
    from dealwire.domain.tracker import Tracker
    from dealwire.store.archive import Archive
    from dealwire.store.envelopes import EnvelopeStore
    from dealwire.store.tenants import TenantConfig, TenantDirectory

SIGNED_KINDS: Final[tuple[Literal["combined"], Literal["certificate"]]] = ("combined", "certificate")
# DocuSign voids what is out for signature; a draft is deleted, and the rest is over.
VOIDABLE: Final = frozenset({EnvelopeStatus.SENT, EnvelopeStatus.DELIVERED, EnvelopeStatus.SIGNED})
_PDF = "application/pdf"


class Envelopes:
    def __init__(
        self,
        *,
        envelopes: EnvelopeStore,
        documents: Archive,
        tenants: TenantDirectory,
        docusign: Callable[[TenantConfig], DocuSignClient],
        link_seconds: int,
    ) -> None:
        self._envelopes = envelopes
        self._documents = documents
        self._tenants = tenants
        self._docusign = docusign
        self._link_seconds = link_seconds

    def of_deal(self, tenant_id: str, deal_id: str, *, limit: int, cursor: str | None) -> EnvelopePage:
        """The deal's envelopes, newest first: one Query on ``by_deal``."""
        if not is_crm_id(deal_id):
            raise NotFound("no such deal")
        page = self._envelopes.envelopes_of_deal(tenant_id, deal_id, limit=limit, cursor=cursor)
        return EnvelopePage(envelopes=[_summary(item) for item in page.items], cursor=page.cursor)

    def tracker(self, tenant_id: str, envelope_id: str) -> EnvelopeView:
        """One envelope with its recipients in routing order: one Query."""
        return _view(self._tracker(tenant_id, envelope_id))

    def document(self, tenant_id: str, envelope_id: str, document_id: str) -> DocumentLink:
        """A short-lived link to ``combined``, ``certificate`` or one of the envelope's documents.

        ``combined`` and ``certificate`` are the stored signed documents (one GetItem); one
        of the envelope's own documents is DocuSign's as it stands now (one Query for the
        signatures made so far, and one download the first time at that count).
        """
        envelope = self._item(tenant_id, envelope_id)
        if document_id in SIGNED_KINDS:
            status = envelope.get("status")
            if status != EnvelopeStatus.COMPLETED:
                raise Conflict(
                    f"the envelope is {status or 'not yet sent'}: the signed PDF and the certificate "
                    "exist once it is completed",
                    code="not_completed",
                )
            stored = (envelope.get("signed_documents") or {}).get(document_id)
            if not stored:
                raise Conflict(
                    "the envelope is completed and its documents are being stored; retry in a minute",
                    code="documents_pending",
                )
            return self._link(document_id, str(stored["key"]), f"{envelope_id}-{document_id}.pdf")
        if not is_docusign_id(document_id):
            raise NotFound("no such document")
        # Fetched once per number of signatures: the same bytes until someone signs again.
        signed = self._tracker(tenant_id, envelope_id).signed
        key = original_document_key(tenant_id, envelope_id, document_id, signed)
        if not self._documents.exists(key):
            self._fetch_original(tenant_id, envelope_id, document_id, key)
        return self._link(document_id, key, _document_name(envelope, document_id))

    def void(self, tenant_id: str, user_id: str, envelope_id: str, reason: str) -> VoidAccepted:
        """Void the envelope at DocuSign; its Connect callback records the void as any other."""
        envelope = self._item(tenant_id, envelope_id)
        status = envelope.get("status")
        if status not in VOIDABLE:
            raise Conflict(
                f"the envelope is {status or 'not yet sent'}: only one out for signature can be voided",
                code="cannot_void",
            )
        tenant = self._tenant(tenant_id)
        with_docusign(lambda: self._docusign(tenant).void_envelope(envelope_id, reason))
        at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        self._envelopes.record_void_request(tenant_id, envelope_id, by=user_id, reason=reason, at=at)
        return VoidAccepted(envelope_id=envelope_id, reason=reason, requested_by=user_id, requested_at=at)

    def _tracker(self, tenant_id: str, envelope_id: str) -> Tracker:
        tracker = self._envelopes.tracker(tenant_id, envelope_id) if is_docusign_id(envelope_id) else None
        if tracker is None:
            raise NotFound("no such envelope")
        return tracker

    def _item(self, tenant_id: str, envelope_id: str) -> dict[str, Any]:
        item = self._envelopes.envelope(tenant_id, envelope_id) if is_docusign_id(envelope_id) else None
        if item is None:
            raise NotFound("no such envelope")
        return item

    def _tenant(self, tenant_id: str) -> TenantConfig:
        return connected_tenant(self._tenants, tenant_id)

    def _fetch_original(self, tenant_id: str, envelope_id: str, document_id: str, key: str) -> None:
        """Stream the document from DocuSign into S3, checksummed as the signed ones are."""
        client = self._docusign(self._tenant(tenant_id))

        def fetch() -> None:
            with client.open_document(envelope_id, document_id) as stream:
                if not stream.content_type.lower().startswith(_PDF):
                    raise Unavailable(f"DocuSign served document {document_id} as {stream.content_type!r}")
                self._documents.put_stream(
                    key,
                    stream.iter_bytes(1024 * 1024),
                    _PDF,
                    {"envelope-id": envelope_id, "document": document_id},
                )

        with_docusign(fetch)

    def _link(self, document_id: str, key: str, filename: str) -> DocumentLink:
        kind: DocumentKind = "original"
        if document_id == "combined":
            kind = "combined"
        elif document_id == "certificate":
            kind = "certificate"
        return DocumentLink(
            kind=kind,
            document_id=document_id,
            url=self._documents.presigned_get(key, self._link_seconds, filename),
            expires_in=self._link_seconds,
        )


def connected_tenant(tenants: TenantDirectory, tenant_id: str) -> TenantConfig:
    """The tenant's configuration, refused (409) until it is connected to DocuSign."""
    tenant = tenants.get(tenant_id)
    if tenant is None or not tenant.docusign_user_id:
        raise Conflict("the account is not connected to DocuSign", code="not_connected")
    return tenant


def _document_name(envelope: Mapping[str, Any], document_id: str) -> str:
    listed = {str(d.get("document_id")): d for d in envelope.get("documents") or []}
    name = str(listed.get(document_id, {}).get("name") or f"document-{document_id}")
    return name if name.lower().endswith(".pdf") else f"{name}.pdf"


def _summary(item: Mapping[str, Any]) -> EnvelopeSummary:
    return EnvelopeSummary(
        envelope_id=str(item.get("envelope_id", "")),
        deal_id=item.get("deal_id"),
        status=item.get("status"),
        subject=item.get("subject"),
        sender=Person(name=item.get("sender_name"), email=item.get("sender_email")),
        created_at=item.get("created_at"),
        sent_at=item.get("sent_at"),
        completed_at=item.get("completed_at"),
        status_changed_at=item.get("status_changed_at"),
    )


def _availability(envelope: Mapping[str, Any]) -> list[DocumentAvailability]:
    completed = envelope.get("status") == EnvelopeStatus.COMPLETED
    stored = envelope.get("signed_documents") or {}
    found = []
    for kind in SIGNED_KINDS:
        reason = None
        if not completed:
            reason = "exists once the envelope is completed"
        elif kind not in stored:
            reason = "being stored"
        found.append(
            DocumentAvailability(
                kind=kind, document_id=kind, name=kind, available=reason is None, reason=reason
            )
        )
    for document in envelope.get("documents") or []:
        if str(document.get("kind", "content")) != "content":
            continue  # the certificate is listed above
        found.append(
            DocumentAvailability(
                kind="original",
                document_id=str(document.get("document_id", "")),
                name=str(document.get("name", "")),
                available=True,
            )
        )
    return found


def _sent_by(envelope: Mapping[str, Any]) -> SentBy:
    """Who sent it, from the ``rule:<id>`` or ``user:<id>`` its send recorded; neither when
    dealwire learnt of the envelope only from DocuSign (sent from DocuSign itself)."""
    kind, _, who = str(envelope.get("sent_by") or "").partition(":")
    return SentBy(
        rule_id=envelope.get("rule_id") or (who if kind == "rule" else None),
        user_id=who if kind == "user" and who else None,
    )


def _view(tracker: Tracker) -> EnvelopeView:
    envelope = tracker.envelope
    requested = None
    if envelope.get("void_requested_by"):
        requested = VoidRequested(
            by=str(envelope["void_requested_by"]),
            reason=str(envelope.get("void_requested_reason", "")),
            at=str(envelope.get("void_requested_at", "")),
        )
    return EnvelopeView(
        **_summary(envelope).model_dump(),
        sent_by=_sent_by(envelope),
        delivered_at=envelope.get("delivered_at"),
        declined_at=envelope.get("declined_at"),
        voided_at=envelope.get("voided_at"),
        voided_reason=envelope.get("voided_reason"),
        expires_at=envelope.get(EXPIRY),
        signed=tracker.signed,
        signers=tracker.signers,
        progress=tracker.progress,
        recipients=[
            RecipientView(
                recipient_id=str(r.get("recipient_id", "")),
                recipient_type=r.get("recipient_type"),
                status=r.get("status"),
                routing_order=r.get("routing_order"),
                name=r.get("name"),
                email=r.get("email"),
                sent_at=r.get("sent_at"),
                delivered_at=r.get("delivered_at"),
                signed_at=r.get("signed_at"),
                declined_at=r.get("declined_at"),
                decline_reason=r.get("decline_reason"),
            )
            for r in tracker.recipients
        ],
        documents=_availability(envelope),
        void_requested=requested,
        last_change_source=envelope.get("last_source"),
    )
