"""Receive one Connect message: verify, parse, archive, record. Knows nothing of Lambda."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dealwire.connect.signature import verify
from dealwire.contracts.connect import media_type, parse_connect_message
from dealwire.contracts.errors import (
    AccountMismatch,
    ConnectRefusal,
    PayloadTooLarge,
    SchemaViolation,
    SignatureRejected,
    UnknownTenant,
)
from dealwire.domain.changes import plan_writes
from dealwire.store.archive import body_digest, connect_key, document_key, rejected_key

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dealwire.domain.changes import AttributeValue
    from dealwire.domain.connect import ConnectEvent
    from dealwire.store.archive import Archive
    from dealwire.store.envelopes import EnvelopeStore
    from dealwire.store.tenants import TenantConfig, TenantDirectory

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    tenant_id: str
    body: bytes
    headers: Mapping[str, str]
    received_at: str


@dataclass(frozen=True, slots=True)
class Receipt:
    envelope_id: str
    event: str
    wire_format: str
    archive_key: str
    fresh: int
    stale: int
    documents: int
    dynamodb_requests: int

    @property
    def applied(self) -> bool:
        return self.fresh > 0


class ConnectReceiver:
    def __init__(
        self,
        tenants: TenantDirectory,
        archive: Archive,
        envelopes: EnvelopeStore,
        max_body_bytes: int,
    ) -> None:
        self._tenants = tenants
        self._archive = archive
        self._envelopes = envelopes
        self._max_body_bytes = max_body_bytes

    def receive(self, request: WebhookRequest) -> Receipt:
        """Record ``request`` or raise a ``ConnectRefusal``.

        Order matters: nothing is stored before the signature is checked; a refused but
        authentic body is archived with its reason; the raw message and any embedded
        documents are durable before the state write, so a crash anywhere leaves either
        nothing recorded (DocuSign retries) or everything.
        """
        if len(request.body) > self._max_body_bytes:
            raise PayloadTooLarge(
                f"body is {len(request.body)} bytes; the limit is {self._max_body_bytes}: "
                "turn off 'include documents' in the Connect configuration"
            )
        tenant = self._tenant(request.tenant_id)
        verdict = verify(request.body, request.headers, tenant.key_values())
        if not verdict.valid:
            raise SignatureRejected("signature verification failed", detail=verdict.problem)
        content_type = request.headers.get("content-type")
        try:
            event = parse_connect_message(
                request.body, content_type, account_id=tenant.docusign_account_id, account_zone=tenant.zone
            )
            _check(event, tenant)
        except ConnectRefusal as refusal:
            self._archive_rejected(request, refusal)
            raise
        digest = body_digest(request.body)
        archive_key = connect_key(
            tenant.tenant_id,
            event.envelope_id,
            generated=event.generated,
            event=event.event,
            digest=digest,
            ext="xml" if event.wire_format == "xml" else "json",
        )
        self._archive.put(
            archive_key,
            request.body,
            media_type(content_type) or "application/octet-stream",
            {"event": event.event, "generated": event.generated, "received": request.received_at},
        )
        documents = self._store_documents(tenant.tenant_id, event)
        writes = plan_writes(event, tenant_id=tenant.tenant_id, archive_key=archive_key, documents=documents)
        result = self._envelopes.apply(tenant.tenant_id, event.envelope_id, writes)
        return Receipt(
            envelope_id=event.envelope_id,
            event=event.event,
            wire_format=event.wire_format,
            archive_key=archive_key,
            fresh=result.fresh,
            stale=result.stale,
            documents=len(documents),
            dynamodb_requests=result.requests,
        )

    def _tenant(self, tenant_id: str) -> TenantConfig:
        tenant = self._tenants.get(tenant_id) if _TENANT.match(tenant_id) else None
        if tenant is None:
            raise UnknownTenant(f"no tenant {tenant_id[:64]!r}: check the Connect URL")
        return tenant

    def _archive_rejected(self, request: WebhookRequest, refusal: ConnectRefusal) -> None:
        kind = media_type(request.headers.get("content-type"))
        extension = "xml" if kind and "xml" in kind else "json" if kind and "json" in kind else "bin"
        key = rejected_key(request.tenant_id, request.received_at, body_digest(request.body), extension)
        # Stored as opaque bytes: the declared type is what was wrong, so it goes in metadata.
        self._archive.put(
            key,
            request.body,
            "application/octet-stream",
            {
                "reason": refusal.reason,
                "detail": refusal.detail[:512],
                "received": request.received_at,
                "declared-content-type": kind or "",
            },
        )

    def _store_documents(self, tenant_id: str, event: ConnectEvent) -> dict[str, AttributeValue]:
        stored: dict[str, AttributeValue] = {}
        for document in event.documents:
            key = document_key(tenant_id, event.envelope_id, document)
            placed = self._archive.put(
                key,
                document.pdf_bytes,
                "application/pdf",
                {"document-id": document.document_id, "name": document.name, "kind": document.kind},
            )
            stored[document.document_id] = {
                "key": placed.key,
                "sha256": placed.sha256,
                "size": placed.size,
                "name": document.name,
                "kind": document.kind,
            }
        return stored


def _check(event: ConnectEvent, tenant: TenantConfig) -> None:
    ids = [("envelopeId", event.envelope_id), ("accountId", event.account_id)]
    ids += [("recipientId", recipient.recipient_id) for recipient in event.recipients]
    for field, value in ids:
        if not _IDENTIFIER.match(value):
            raise SchemaViolation(f"{field} {value[:40]!r} is not a DocuSign id")
    if event.account_id.lower() != tenant.docusign_account_id.lower():
        raise AccountMismatch(
            "the message belongs to another DocuSign account",
            detail=(
                f"account {event.account_id} is not tenant {tenant.tenant_id}'s {tenant.docusign_account_id}"
            ),
        )
