"""The queued jobs that call DocuSign: store a completed envelope's documents; refresh an envelope.

Both are safe to run twice. A repeated document job finds the documents recorded on
the envelope and in S3 and downloads nothing (DocuSign limits repeated downloads of a
document per hour); a repeated refresh is an ordinary, ordered state write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from dealwire.contracts.events import JOB_KINDS, FetchDocumentsJob, RefreshEnvelopeJob
from dealwire.docusign.errors import COMBINED_PDF_DOWNLOAD_NOT_ALLOWED, DocuSignError
from dealwire.envelope_reads import EnvelopeReads
from dealwire.store.archive import signed_document_key

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from dealwire.docusign.client import DocuSignClient
    from dealwire.store.archive import Archive
    from dealwire.store.envelopes import ApplyResult, EnvelopeStore
    from dealwire.store.tenants import TenantConfig, TenantDirectory

CHUNK_SIZE = 1024 * 1024
PDF = "application/pdf"
DocumentsOutcome = Literal["stored", "already_stored", "combined_not_allowed"]


class JobFailed(RuntimeError):
    """The job cannot finish now; the message is retried and, in the end, dead-lettered."""


class UnknownJob(ValueError):
    """A queue message that is no job dealwire queues: retried, then kept in the dead-letter queue."""


@dataclass(frozen=True, slots=True)
class JobDone:
    """What one job did, for the log and the metrics."""

    kind: str
    downloads: int
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DocumentsResult:
    outcome: DocumentsOutcome
    documents: dict[str, dict[str, Any]]
    downloads: int


class EnvelopeJobs:
    def __init__(
        self,
        *,
        tenants: TenantDirectory,
        archive: Archive,
        envelopes: EnvelopeStore,
        docusign: Callable[[TenantConfig], DocuSignClient],
    ) -> None:
        self._tenants = tenants
        self._archive = archive
        self._envelopes = envelopes
        self._docusign = docusign

    def run(self, document: Mapping[str, Any], *, remaining: Callable[[], float] | None = None) -> JobDone:
        """Run the job a queue message holds (``kind`` says which); raising retries it.

        ``remaining``: seconds this invocation may still spend on DocuSign; no wait (a
        backoff, a rate limit's reset) runs past it.
        """
        kind = str(document.get("kind", ""))
        model = JOB_KINDS.get(kind)
        if model is None:
            raise UnknownJob(f"unknown job kind {kind!r}")
        job = model.model_validate(document)
        if isinstance(job, FetchDocumentsJob):
            result = self.fetch_documents(job, remaining=remaining)
            return JobDone(kind, result.downloads, {"outcome": result.outcome})
        if isinstance(job, RefreshEnvelopeJob):
            applied = self.refresh_envelope(job, remaining=remaining)
            return JobDone(kind, 0, {"fresh_items": applied.fresh, "stale_items": applied.stale})
        raise UnknownJob(f"no runner for job kind {kind!r}")

    def _tenant(self, tenant_id: str) -> TenantConfig:
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise JobFailed(f"tenant {tenant_id!r} has no secret")
        if not tenant.docusign_user_id:
            raise JobFailed(f"tenant {tenant_id!r} has no docusignUserId to impersonate")
        return tenant

    def fetch_documents(
        self, job: FetchDocumentsJob, *, remaining: Callable[[], float] | None = None
    ) -> DocumentsResult:
        """Store the combined signed PDF and the certificate, and record them on the envelope."""
        recorded = self._envelopes.signed_documents(job.tenant_id, job.envelope_id)
        if recorded and all(self._archive.exists(str(doc["key"])) for doc in recorded.values()):
            return DocumentsResult("already_stored", recorded, downloads=0)
        tenant = self._tenant(job.tenant_id)
        with self._docusign(tenant).deadline(remaining) as client:
            return self._fetch_documents(job, client)

    def _fetch_documents(self, job: FetchDocumentsJob, client: DocuSignClient) -> DocumentsResult:
        connect = {doc.document_id: doc for doc in job.connect_documents}
        stored: dict[str, dict[str, Any]] = {}
        downloads = 0
        outcome: DocumentsOutcome = "stored"
        try:
            stored["combined"] = self._download(client, job, "combined", "combined", certificate=False)
            downloads += 1
        except DocuSignError as exc:
            if exc.error_code != COMBINED_PDF_DOWNLOAD_NOT_ALLOWED:
                raise
            # An account setting forbids the combined PDF: a recorded outcome, not a retry.
            outcome = "combined_not_allowed"
            for document in client.list_documents(job.envelope_id):
                document_id = str(document.get("documentId", ""))
                if str(document.get("type", "")).lower() != "content" or not document_id:
                    continue
                if document_id in connect:
                    stored[f"document-{document_id}"] = connect[document_id].model_dump()
                    continue
                stored[f"document-{document_id}"] = self._download(
                    client, job, document_id, f"document-{document_id}"
                )
                downloads += 1
        delivered_certificate = next((doc for doc in connect.values() if doc.kind == "summary"), None)
        if delivered_certificate is not None:
            stored["certificate"] = delivered_certificate.model_dump()
        else:
            # On its own: an account setting can override certificate=true on "combined".
            stored["certificate"] = self._download(client, job, "certificate", "certificate")
            downloads += 1
        self._envelopes.record_documents(job.tenant_id, job.envelope_id, stored, outcome)
        return DocumentsResult(outcome, stored, downloads)

    def _download(
        self,
        client: DocuSignClient,
        job: FetchDocumentsJob,
        document_id: str,
        name: str,
        *,
        certificate: bool | None = None,
    ) -> dict[str, Any]:
        key = signed_document_key(job.tenant_id, job.envelope_id, name)
        with client.open_document(job.envelope_id, document_id, certificate=certificate) as stream:
            if not stream.content_type.lower().startswith(PDF):
                raise JobFailed(f"{name} of {job.envelope_id} arrived as {stream.content_type!r}, not a PDF")
            stored = self._archive.put_stream(
                key,
                stream.iter_bytes(CHUNK_SIZE),
                PDF,
                {"envelope-id": job.envelope_id, "document": name},
            )
        if stored.size == 0:
            raise JobFailed(f"{name} of {job.envelope_id} arrived empty")
        return {"key": stored.key, "sha256": stored.sha256, "size": stored.size, "name": name, "kind": "pdf"}

    def refresh_envelope(
        self, job: RefreshEnvelopeJob, *, remaining: Callable[[], float] | None = None
    ) -> ApplyResult:
        """Read the envelope from the API and record it like a callback."""
        tenant = self._tenant(job.tenant_id)
        with self._docusign(tenant).deadline(remaining) as client:
            document = client.get_envelope(job.envelope_id)
        recorded = EnvelopeReads(self._archive, self._envelopes).record(
            tenant.tenant_id,
            tenant.docusign_account_id,
            document,
            source="refresh",
            metadata={"job": job.job_id},
        )
        if recorded.result is None:
            raise JobFailed(
                f"the read of {job.envelope_id} cannot be recorded ({recorded.refused}); it is archived"
            )
        return recorded.result
