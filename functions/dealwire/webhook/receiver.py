"""Receive one Connect message: verify, parse, archive, record. Knows nothing of Lambda."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from dealwire.contracts.connect_message import media_type, parse_connect_message
from dealwire.contracts.errors import (
    AccountMismatch,
    ConnectRefusal,
    PayloadTooLarge,
    SchemaViolation,
    SignatureRejected,
    TooLargeToRecord,
    UnknownTenant,
    UnreadablePayload,
)
from dealwire.domain.changes import plan_writes
from dealwire.domain.ids import is_docusign_id, is_tenant_id
from dealwire.store.archive import body_digest, connect_key, document_key, rejected_key
from dealwire.store.table import ItemTooLarge
from dealwire.webhook.signature import Verdict, verify

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dealwire.domain.changes import AttributeValue, ItemWrite
    from dealwire.domain.envelope_event import ChangeSource, ConnectEvent
    from dealwire.store.archive import Archive
    from dealwire.store.envelopes import EnvelopeStore
    from dealwire.store.integrations import CallbackHeartbeat
    from dealwire.store.tenants import TenantConfig, TenantDirectory


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    tenant_id: str
    body: bytes
    headers: Mapping[str, str]
    received_at: str


# What became of telling the integration item a callback arrived (see CallbackHeartbeat).
Heartbeat = Literal["off", "skipped", "written", "new_key_verified", "failed"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one accepted message changed."""

    heartbeat: Heartbeat

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


@dataclass(frozen=True, slots=True)
class _Plan:
    event: ConnectEvent
    archive_key: str
    documents: dict[str, AttributeValue]
    writes: list[ItemWrite]


class ConnectReceiver:
    def __init__(
        self,
        tenants: TenantDirectory,
        archive: Archive,
        envelopes: EnvelopeStore,
        max_body_bytes: int,
        heartbeat: CallbackHeartbeat | None = None,
    ) -> None:
        self._tenants = tenants
        self._archive = archive
        self._envelopes = envelopes
        self._max_body_bytes = max_body_bytes
        self._heartbeat = heartbeat

    def receive(self, request: WebhookRequest) -> Recorded:
        """Record ``request`` or raise a ``ConnectRefusal``.

        Order matters: nothing is stored before the signature is checked; an authentic
        body that cannot be recorded, for whatever reason, is archived with its reason and
        refused with a 4xx (a 5xx would have DocuSign retry it for days); the raw message
        and any embedded documents are durable before the state write, so a crash anywhere
        leaves either nothing recorded (DocuSign retries) or everything.
        """
        if len(request.body) > self._max_body_bytes:
            raise PayloadTooLarge(
                f"body is {len(request.body)} bytes; the limit is {self._max_body_bytes}: "
                "turn off 'include documents' in the Connect configuration"
            )
        tenant, verdict = self._verified(request, self._tenant(request.tenant_id))
        if not verdict.valid:
            raise SignatureRejected("signature verification failed", detail=verdict.problem)
        plan = self._planned(request, tenant)
        result = self._store(request, tenant, plan, archive=True)
        return replace(result, heartbeat=self._heartbeat_after(tenant, verdict, request.received_at))

    def _store(
        self, request: WebhookRequest, tenant: TenantConfig, plan: _Plan, *, archive: bool
    ) -> Recorded:
        """Archive the body (unless it is the archive's own), store its documents, then record it."""
        event = plan.event
        if archive:
            metadata = {"event": event.event, "generated": event.generated, "received": request.received_at}
            self._archive.put(
                plan.archive_key,
                request.body,
                media_type(request.headers.get("content-type")) or "application/octet-stream",
                metadata,
            )
        self._store_documents(tenant.tenant_id, event)
        try:
            result = self._envelopes.apply(
                tenant.tenant_id, event.envelope_id, plan.writes, fits_checked=True
            )
        except ItemTooLarge as exc:
            # DynamoDB said so after all: refused as if planning had found it. Anything else
            # (throttling, a timeout) is a 5xx that DocuSign retries.
            refusal = TooLargeToRecord(f"the message cannot be recorded: {exc}")
            raise (self._refused(request, refusal) if archive else refusal) from exc
        return Recorded(
            heartbeat="off",
            envelope_id=event.envelope_id,
            event=event.event,
            wire_format=event.wire_format,
            archive_key=plan.archive_key,
            fresh=result.fresh,
            stale=result.stale,
            documents=len(plan.documents),
            dynamodb_requests=result.requests,
        )

    def _verified(self, request: WebhookRequest, tenant: TenantConfig) -> tuple[TenantConfig, Verdict]:
        """The signature checked against the cached keys, and once more against a fresh read of
        the secret when they may be out of date: none matched (a key was rotated since), or
        DocuSign signed with more keys than are cached (a rotation began: its new key can
        prove itself on this callback). A fresh read replaces nothing it cannot verify."""
        keys = tenant.key_values()
        verdict = verify(request.body, request.headers, keys)
        if verdict.valid and not verdict.signed_with_more_keys(keys):
            return tenant, verdict
        fresher = self._tenants.refreshed(tenant.tenant_id)
        if fresher is None:
            return tenant, verdict
        again = verify(request.body, request.headers, fresher.key_values())
        return (fresher, again) if again.valid or not verdict.valid else (tenant, verdict)

    def _heartbeat_after(self, tenant: TenantConfig, verdict: Verdict, at: str) -> Heartbeat:
        """Tell the integration a callback arrived (and whether a rotation's new key signed it).
        Telemetry: a failure is reported, never the callback's."""
        if self._heartbeat is None:
            return "off"
        proven = tenant.new_key_among(verdict.matched)
        try:
            written = self._heartbeat.seen(tenant.tenant_id, at, proven)
        except Exception:  # noqa: BLE001 - the callback is recorded; the heartbeat is not worth its 5xx
            return "failed"
        if proven is not None and written:
            return "new_key_verified"
        return "written" if written else "skipped"

    def replay(
        self, tenant_id: str, body: bytes, content_type: str | None, *, received_at: str, archived_as: str
    ) -> Recorded:
        """Apply an archived body again, as the webhook applied (or refused) it: the same parse,
        checks and writes, marked ``replay``; harmless any number of times (the ordering rule).

        The body was authentic when it was archived (nothing is archived before its
        signature is checked), so none is asked for. A body refused then (``connect-rejected/``)
        that reads now is archived beside the others; one still refused raises the refusal.
        """
        tenant = self._tenant(tenant_id)
        request = WebhookRequest(
            tenant_id, body, {"content-type": content_type} if content_type else {}, received_at
        )
        plan = self._planned(request, tenant, source="replay")
        # A body the webhook refused, readable now, goes beside the accepted ones.
        return self._store(request, tenant, plan, archive=plan.archive_key != archived_as)

    def _plan(self, request: WebhookRequest, tenant: TenantConfig, source: ChangeSource = "connect") -> _Plan:
        """Parse and check the message and plan its writes: nothing stored yet."""
        content_type = request.headers.get("content-type")
        event = parse_connect_message(
            request.body, content_type, account_id=tenant.docusign_account_id, account_zone=tenant.zone
        )
        _check(event, tenant)
        archive_key = connect_key(
            tenant.tenant_id,
            event.envelope_id,
            generated=event.generated,
            event=event.event,
            digest=body_digest(request.body),
            ext="xml" if event.wire_format == "xml" else "json",
        )
        documents = _document_records(tenant.tenant_id, event)
        writes = plan_writes(
            event, tenant_id=tenant.tenant_id, archive_key=archive_key, documents=documents, source=source
        )
        self._envelopes.check_fits(tenant.tenant_id, event.envelope_id, writes)
        return _Plan(event, archive_key, documents, writes)

    def _planned(
        self, request: WebhookRequest, tenant: TenantConfig, source: ChangeSource = "connect"
    ) -> _Plan:
        """``_plan``, with whatever makes an authentic body unrecordable raised as a refusal
        (archived with its reason, unless it is the archive's own body being replayed)."""
        try:
            return self._plan(request, tenant, source)
        except ConnectRefusal as refused:
            refusal = refused
        except ItemTooLarge as exc:
            refusal = TooLargeToRecord(f"the message cannot be recorded: {exc}")
        except Exception as exc:  # noqa: BLE001 - an authentic body must get a 4xx and be kept, not a 500
            refusal = UnreadablePayload(
                "the message could not be read; it is kept for a replay once this is fixed",
                detail=f"{type(exc).__name__}: {str(exc)[:300]}",
            )
        if source == "replay":
            raise refusal
        raise self._refused(request, refusal)

    def _refused(self, request: WebhookRequest, refusal: ConnectRefusal) -> ConnectRefusal:
        self._archive_rejected(request, refusal)
        return refusal

    def _tenant(self, tenant_id: str) -> TenantConfig:
        tenant = self._tenants.get(tenant_id) if is_tenant_id(tenant_id) else None
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

    def _store_documents(self, tenant_id: str, event: ConnectEvent) -> None:
        for document in event.documents:
            self._archive.put(
                document_key(tenant_id, event.envelope_id, document),
                document.pdf_bytes,
                "application/pdf",
                {"document-id": document.document_id, "name": document.name, "kind": document.kind},
            )


def _document_records(tenant_id: str, event: ConnectEvent) -> dict[str, AttributeValue]:
    """What the envelope item records of the documents the message carries (stored next)."""
    return {
        document.document_id: {
            "key": document_key(tenant_id, event.envelope_id, document),
            "sha256": body_digest(document.pdf_bytes),  # as Archive.put records it
            "size": len(document.pdf_bytes),
            "name": document.name,
            "kind": document.kind,
        }
        for document in event.documents
    }


def _check(event: ConnectEvent, tenant: TenantConfig) -> None:
    ids = [("envelopeId", event.envelope_id), ("accountId", event.account_id)]
    ids += [("recipientId", recipient.recipient_id) for recipient in event.recipients]
    for field, value in ids:
        if not is_docusign_id(value):
            raise SchemaViolation(f"{field} {value[:40]!r} is not a DocuSign id")
    if event.account_id.lower() != tenant.docusign_account_id.lower():
        raise AccountMismatch(
            "the message belongs to another DocuSign account",
            detail=(
                f"account {event.account_id} is not tenant {tenant.tenant_id}'s {tenant.docusign_account_id}"
            ),
        )
