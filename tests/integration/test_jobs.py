"""document_fetch's jobs against moto, with a DocuSign stand-in that counts downloads."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from dealwire.contracts.events import FetchDocumentsJob, RefreshEnvelopeJob, StoredDocument
from dealwire.docusign.errors import COMBINED_PDF_DOWNLOAD_NOT_ALLOWED, DocuSignError
from dealwire.envelope_jobs import EnvelopeJobs, JobFailed
from dealwire.store.archive import Archive
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.tenants import TenantDirectory
from infra.local.resources import seed_tenant
from tests.integration.helpers import bucket, read_object, table
from tests.support import ACCOUNT_ID, ENVELOPE_ID, HMAC_KEY, TENANT_ID, FakeContext, fixture_bytes, http_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from infra.local.template import Stack

PDFS = {
    "combined": b"%PDF-1.4 combined signed document\n%%EOF\n",
    "certificate": b"%PDF-1.4 certificate of completion\n%%EOF\n",
    "1": b"%PDF-1.4 document one\n%%EOF\n",
}


@dataclass
class Stream:
    content_type: str
    body: bytes

    def iter_bytes(self, chunk_size: int = 1024) -> Iterator[bytes]:
        for start in range(0, len(self.body), 7):  # small, odd chunks
            yield self.body[start : start + 7]


class FakeDocuSign:
    def __init__(self, *, combined_allowed: bool = True) -> None:
        self.downloads: list[str] = []
        self.combined_allowed = combined_allowed
        self.envelope = json.loads(fixture_bytes("aggregate_envelope_completed.json"))
        self.deadlines: list[Any] = []

    @contextmanager
    def deadline(self, remaining: Any) -> Iterator[FakeDocuSign]:
        self.deadlines.append(remaining)
        yield self

    @contextmanager
    def open_document(
        self, envelope_id: str, document_id: str, *, certificate: bool | None = None
    ) -> Iterator[Stream]:
        assert envelope_id == ENVELOPE_ID
        if document_id == "combined":
            assert certificate is False  # the certificate is fetched on its own
            if not self.combined_allowed:
                raise DocuSignError(400, COMBINED_PDF_DOWNLOAD_NOT_ALLOWED, "not allowed")
        self.downloads.append(document_id)
        yield Stream("application/pdf", PDFS[document_id])

    def list_documents(self, envelope_id: str) -> list[dict[str, Any]]:
        return [
            {"documentId": "1", "name": "Agreement.pdf", "type": "content"},
            {"documentId": "certificate", "name": "Summary", "type": "summary"},
        ]

    def get_envelope(self, envelope_id: str) -> dict[str, Any]:
        return self.envelope


@pytest.fixture
def docusign() -> FakeDocuSign:
    return FakeDocuSign()


@pytest.fixture
def jobs(aws: Stack, docusign: FakeDocuSign) -> EnvelopeJobs:
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY], docusign_user_id="user-1")
    prefix = aws.function_environment("DocumentFetchFunction")["DEALWIRE_TENANT_SECRET_PREFIX"]
    return EnvelopeJobs(
        tenants=TenantDirectory(prefix, 300),
        archive=Archive(bucket(aws)),
        envelopes=EnvelopeStore(table(aws)),
        docusign=lambda tenant: docusign,  # type: ignore[arg-type,return-value]
    )


def completed(aws: Stack) -> FetchDocumentsJob:
    from webhook_docusign import app

    assert (
        app.lambda_handler(http_event(fixture_bytes("sim_envelope_completed.json")), FakeContext())[
            "statusCode"
        ]
        == 200
    )
    return FetchDocumentsJob(
        job_id="j-1", tenant_id=TENANT_ID, account_id=ACCOUNT_ID, envelope_id=ENVELOPE_ID, completed_at="t"
    )


def test_the_signed_pdf_and_certificate_are_stored_and_recorded(
    aws: Stack, jobs: EnvelopeJobs, docusign: FakeDocuSign
) -> None:
    result = jobs.fetch_documents(completed(aws))
    assert (result.outcome, result.downloads) == ("stored", 2)
    assert docusign.downloads == ["combined", "certificate"]
    recorded = EnvelopeStore(table(aws)).signed_documents(TENANT_ID, ENVELOPE_ID)
    assert set(recorded) == {"combined", "certificate"}
    for name, document in recorded.items():
        body, head = read_object(aws, document["key"])
        assert body == PDFS[name]  # byte-identical to what DocuSign served
        assert document["sha256"] == hashlib.sha256(body).hexdigest()
        assert document["size"] == len(body)
        assert head["ContentType"] == "application/pdf"


def test_a_repeated_job_downloads_nothing(aws: Stack, jobs: EnvelopeJobs, docusign: FakeDocuSign) -> None:
    job = completed(aws)
    jobs.fetch_documents(job)
    again = jobs.fetch_documents(job)
    assert (again.outcome, again.downloads) == ("already_stored", 0)
    assert docusign.downloads == ["combined", "certificate"]


def test_combined_not_allowed_falls_back_to_each_document(
    aws: Stack, jobs: EnvelopeJobs, docusign: FakeDocuSign
) -> None:
    docusign.combined_allowed = False
    result = jobs.fetch_documents(completed(aws))
    assert result.outcome == "combined_not_allowed"
    assert set(result.documents) == {"document-1", "certificate"}
    assert docusign.downloads == ["1", "certificate"]


def test_documents_connect_delivered_are_not_downloaded_again(
    aws: Stack, jobs: EnvelopeJobs, docusign: FakeDocuSign
) -> None:
    docusign.combined_allowed = False
    job = completed(aws).model_copy(
        update={
            "connect_documents": [
                StoredDocument(document_id="1", key="documents/x/1.pdf", sha256="ab", size=3, kind="content"),
                StoredDocument(
                    document_id="certificate", key="documents/x/c.pdf", sha256="cd", size=3, kind="summary"
                ),
            ]
        }
    )
    jobs.fetch_documents(job)
    assert docusign.downloads == []


def test_a_tenant_without_a_user_to_impersonate_fails_the_job(aws: Stack, jobs: EnvelopeJobs) -> None:
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY])
    fresh = EnvelopeJobs(
        tenants=TenantDirectory(
            aws.function_environment("DocumentFetchFunction")["DEALWIRE_TENANT_SECRET_PREFIX"], 0
        ),
        archive=Archive(bucket(aws)),
        envelopes=EnvelopeStore(table(aws)),
        docusign=lambda tenant: FakeDocuSign(),  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(JobFailed, match="docusignUserId"):
        fresh.fetch_documents(completed(aws))


def test_a_refresh_records_the_api_state_and_clears_the_request(aws: Stack, jobs: EnvelopeJobs) -> None:
    from webhook_docusign import app

    body = fixture_bytes("sim_minimal_recipient_completed.json")
    assert app.lambda_handler(http_event(body), FakeContext())["statusCode"] == 200
    store = EnvelopeStore(table(aws))
    view = store.tracker(TENANT_ID, ENVELOPE_ID)
    assert view is not None
    assert view.envelope["needs_refresh"] is True
    jobs.refresh_envelope(
        RefreshEnvelopeJob(job_id="r-1", tenant_id=TENANT_ID, account_id=ACCOUNT_ID, envelope_id=ENVELOPE_ID)
    )
    view = store.tracker(TENANT_ID, ENVELOPE_ID)
    assert view is not None
    assert view.envelope["needs_refresh"] is False
    assert view.envelope["status"] == "completed"
    assert view.progress == "2/2 signed"
