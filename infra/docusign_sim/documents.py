"""The PDFs of a simulated envelope: its document, the certificate of completion, and the two combined."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.docusign_sim.errors import SimError
from infra.docusign_sim.pdf import render_pdf

if TYPE_CHECKING:
    from infra.docusign_sim.model import Envelope

DOCUMENT_IDS = ("1", "certificate", "combined")


def _document_page(envelope: Envelope) -> list[str]:
    # Only what never changes after creation, so the bytes are the same at every download.
    lines = [envelope.document_name, "", f"Envelope {envelope.envelope_id}", envelope.email_subject, ""]
    lines += [f"{r.role_name}: {r.name} <{r.email}>" for r in envelope.recipients]
    return lines


def _certificate_page(envelope: Envelope) -> list[str]:
    lines = ["Certificate Of Completion", "", f"Envelope Id: {envelope.envelope_id}"]
    lines += [f"Subject: {envelope.email_subject}", f"Document: {envelope.document_name}", ""]
    lines += [f"Recipient {r.recipient_id} ({r.recipient_type}): {r.name}" for r in envelope.recipients]
    return lines


def envelope_pdf(envelope: Envelope, document_id: str, *, certificate: bool = True) -> bytes:
    """``GET envelopes/{id}/documents/{document_id}``: ``1``, ``certificate`` or ``combined``
    (``certificate`` says whether the combined file ends with the certificate)."""
    if document_id == "1" and envelope.document_count:
        return render_pdf(envelope.document_name, [_document_page(envelope)])
    if document_id == "certificate":
        return render_pdf(f"CertificateOfCompletion_{envelope.envelope_id}", [_certificate_page(envelope)])
    if document_id == "combined":
        content = [_document_page(envelope)] if envelope.document_count else []
        pages = content + ([_certificate_page(envelope)] if certificate else [])
        return render_pdf(f"Combined {envelope.envelope_id}", pages)
    raise SimError(400, "INVALID_DOCUMENT_ID", f"The DocumentID specified is not valid: {document_id}")
