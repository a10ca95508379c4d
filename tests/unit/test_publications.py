"""What a committed change publishes: derived from old and new images only."""

from __future__ import annotations

from typing import Any

from dealwire.contracts.events import (
    EnvelopeCompleted,
    EnvelopeStatusChanged,
    FetchDocumentsJob,
    RefreshEnvelopeJob,
)
from dealwire.domain import publications
from dealwire.store.table import item_kind

BASE = {
    "pk": "T#t#ENV#e-1",
    "sk": "ENVELOPE",
    "tenant_id": "t",
    "account_id": "a-1",
    "envelope_id": "e-1",
    "deal_id": "d-1",
    "order": "2024-01-01T00:00:00.0000000Z|020|abc",
    "generated": "2024-01-01T00:00:00.0000000Z",
}


def derive(old: dict[str, Any] | None, new: dict[str, Any] | None) -> publications.Derived:
    """As the publisher calls it: the item's kind from its keys."""
    return publications.derive(item_kind(new or old or {}), old, new)


def envelope(**fields: Any) -> dict[str, Any]:
    return {**BASE, **fields}


def test_a_status_change_publishes_status_changed() -> None:
    derived = derive(envelope(status="sent"), envelope(status="delivered", order="o2"))
    assert [p.detail_type for p in derived.events] == ["envelope.status_changed"]
    detail = derived.events[0].detail
    assert isinstance(detail, EnvelopeStatusChanged)
    assert (detail.previous_status, detail.status, detail.deal_id) == ("sent", "delivered", "d-1")
    assert derived.jobs == []


def test_completion_publishes_completed_and_queues_one_document_job() -> None:
    new = envelope(
        status="completed",
        completed_at="2024-01-01T01:00:00.0000000Z",
        connect_documents={
            "1": {
                "key": "documents/t/e-1/connect/1.pdf",
                "sha256": "ab",
                "size": 10,
                "name": "c.pdf",
                "kind": "content",
            }
        },
    )
    derived = derive(envelope(status="sent"), new)
    assert [p.detail_type for p in derived.events] == ["envelope.status_changed", "envelope.completed"]
    completed = derived.events[1].detail
    assert isinstance(completed, EnvelopeCompleted)
    assert completed.completed_at == "2024-01-01T01:00:00.0000000Z"
    (job,) = derived.jobs
    assert isinstance(job, FetchDocumentsJob)
    assert job.connect_documents[0].key == "documents/t/e-1/connect/1.pdf"


def test_the_document_job_id_is_the_same_for_every_completion_of_an_envelope() -> None:
    first = derive(None, envelope(status="completed", order="o1")).jobs[0]
    again = derive(envelope(status="sent"), envelope(status="completed", order="o9")).jobs[0]
    assert isinstance(first, FetchDocumentsJob)
    assert isinstance(again, FetchDocumentsJob)
    assert first.job_id == again.job_id


def test_event_ids_are_stable_across_stream_redelivery() -> None:
    old, new = envelope(status="sent"), envelope(status="delivered", order="o2")
    assert derive(old, new).events[0].detail == derive(old, new).events[0].detail


def test_no_status_change_publishes_nothing() -> None:
    assert derive(envelope(status="sent"), envelope(status="sent", subject="changed")).events == []


def test_needs_refresh_turning_on_queues_one_refresh() -> None:
    derived = derive(envelope(), envelope(needs_refresh=True))
    assert [type(job) for job in derived.jobs] == [RefreshEnvelopeJob]
    assert derive(envelope(needs_refresh=True), envelope(needs_refresh=True)).jobs == []


def test_a_recipient_change_publishes_recipient_status_changed() -> None:
    old = {**BASE, "sk": "RCP#2", "recipient_id": "2", "status": "sent"}
    new = {**old, "status": "declined", "decline_reason": "Wrong price", "routing_order": 2}
    (publication,) = derive(old, new).events
    assert publication.detail_type == "envelope.recipient_status_changed"
    dumped = publication.detail.model_dump(by_alias=True)
    assert dumped["declineReason"] == "Wrong price"
    assert dumped["previousStatus"] == "sent"


def test_removals_and_unknown_items_publish_nothing() -> None:
    assert derive(envelope(status="sent"), None).events == []
    assert derive(None, {**BASE, "sk": "SOMETHING"}).events == []


def test_an_image_without_identity_publishes_nothing() -> None:
    assert derive(None, {"pk": "T#t#ENV#e-1", "sk": "ENVELOPE"}).events == []
    assert derive(None, {"pk": "T#t#ENV#e-1", "sk": "RCP#1", "status": "sent"}).events == []


def test_documents_recorded_on_the_envelope_publish_documents_stored_once() -> None:
    stored = {
        "combined": {
            "key": "documents/t/e-1/signed/combined.pdf",
            "sha256": "ab",
            "size": 10,
            "name": "combined",
            "kind": "pdf",
        },
        "certificate": {
            "key": "documents/t/e-1/signed/certificate.pdf",
            "sha256": "cd",
            "size": 9,
            "name": "certificate",
            "kind": "pdf",
        },
    }
    before = envelope(status="completed")
    after = envelope(status="completed", signed_documents=stored, documents_outcome="stored")
    (publication,) = derive(before, after).events
    assert publication.detail_type == "envelope.documents_stored"
    dumped = publication.detail.model_dump(by_alias=True)
    assert [d["documentId"] for d in dumped["documents"]] == ["certificate", "combined"]
    assert dumped["outcome"] == "stored"
    assert derive(after, after).events == []
