"""webhook_docusign through its Lambda handler, against moto built from template.yaml."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from dealwire.store import clients
from dealwire.store.envelopes import EnvelopeStore
from infra.local.resources import seed_tenant
from tests.integration.helpers import RequestLog, item_count, object_keys, read_object, table
from tests.support import (
    ACCOUNT_ID,
    ENVELOPE_ID,
    HMAC_KEY,
    OTHER_KEY,
    TENANT_ID,
    FakeContext,
    encode,
    fixture_bytes,
    http_event,
    signer,
    sim_message,
)
from webhook_docusign import app

if TYPE_CHECKING:
    from infra.local.template import Stack

pytestmark = pytest.mark.usefixtures("aws")


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    answer = app.lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


def tracker(stack: Stack, tenant: str = TENANT_ID, envelope: str = ENVELOPE_ID):
    return EnvelopeStore(table(stack)).tracker(tenant, envelope)


def test_a_signed_event_is_archived_and_recorded_with_one_write_and_one_put(aws: Stack) -> None:
    body = fixture_bytes("sim_envelope_sent.json")
    log = RequestLog()
    status, answer = call(http_event(body))
    assert (status, answer["status"], answer["envelopeId"]) == (200, "applied", ENVELOPE_ID)
    calls = log.take()
    assert calls.pop("GetSecretValue") == 1  # cold start only; cached afterwards
    assert calls.pop("UpdateItem") == 1  # "last callback" for the settings page: every 5 minutes
    assert calls == {"PutObject": 1, "TransactWriteItems": 1}
    (key,) = object_keys(aws, "connect/")
    stored, head = read_object(aws, key)
    assert stored == body  # byte-for-byte as received
    assert head["ContentType"] == "application/json"
    view = tracker(aws)
    assert view is not None
    assert view.envelope["status"] == "sent"
    assert view.envelope["deal_id"] == "deal-1001"
    assert view.envelope["archive_key"] == key
    assert view.progress == "0/2 signed"
    assert [r["recipient_id"] for r in view.recipients] == ["1", "2", "3"]
    # The next event costs no secret lookup.
    log.take()
    call(http_event(fixture_bytes("sim_recipient_delivered.json")))
    assert log.take() == {"PutObject": 1, "TransactWriteItems": 1}


def test_a_duplicate_changes_nothing_and_costs_one_request(aws: Stack) -> None:
    body = fixture_bytes("sim_recipient_completed.json")
    call(http_event(body))
    before = tracker(aws)
    log = RequestLog()
    status, answer = call(http_event(body))
    assert (status, answer["status"]) == (200, "stale")
    assert log.take() == {"PutObject": 1, "TransactWriteItems": 1}
    assert tracker(aws) == before


def test_the_whole_life_in_any_order_ends_completed(aws: Stack) -> None:
    names = [
        "sim_envelope_completed.json",
        "sim_recipient_delivered.json",
        "sim_recipient_completed_last.json",
        "sim_envelope_sent.json",
        "sim_recipient_completed.json",
    ]
    for name in names:
        status, _ = call(http_event(fixture_bytes(name)))
        assert status == 200
    view = tracker(aws)
    assert view is not None
    assert view.envelope["status"] == "completed"
    assert view.envelope["in_flight"] is False
    assert "gsi_inflight_pk" not in view.envelope  # off the poller's sweep
    assert view.progress == "2/2 signed"
    first = view.recipients[0]
    assert first["sent_at"] < first["delivered_at"] < first["signed_at"]


def test_a_base64_encoded_body_is_verified_as_the_bytes_it_encodes(aws: Stack) -> None:
    status, _ = call(http_event(fixture_bytes("sim_envelope_sent.json"), base64_body=True))
    assert status == 200


def test_the_legacy_xml_format_is_recorded(aws: Stack) -> None:
    status, answer = call(
        http_event(fixture_bytes("xml_envelope_completed.xml"), content_type="text/xml; charset=utf-8")
    )
    assert (status, answer["event"]) == (200, "envelope-completed")
    view = tracker(aws)
    assert view is not None
    assert view.envelope["status"] == "completed"
    assert view.progress == "2/2 signed"
    assert set(view.envelope["connect_documents"]) == {"1", "certificate"}


def test_embedded_documents_are_stored_before_the_answer_with_checksums(aws: Stack) -> None:
    body = fixture_bytes("sim_envelope_completed_with_documents.json")
    assert call(http_event(body))[0] == 200
    view = tracker(aws)
    assert view is not None
    documents = view.envelope["connect_documents"]
    assert documents
    for document in documents.values():
        content, head = read_object(aws, document["key"])
        assert hashlib.sha256(content).hexdigest() == document["sha256"]
        assert len(content) == document["size"]
        assert head["ContentType"] == "application/pdf"
        assert content.startswith(b"%PDF")


def test_each_tenant_has_its_own_url_and_keys(aws: Stack) -> None:
    seed_tenant(aws, "acme", account_id="acme-account", hmac_keys=[OTHER_KEY])
    message = sim_message(
        "envelope-sent",
        "2024-01-01T00:00:00Z",
        status="sent",
        signers=[signer("1", "sent")],
        account_id="acme-account",
    )
    body = encode(message)
    assert call(http_event(body, path="/webhooks/docusign/acme", key=OTHER_KEY))[0] == 200
    assert call(http_event(body, path="/webhooks/docusign/acme", key=HMAC_KEY))[0] == 401
    assert tracker(aws, "acme") is not None
    assert tracker(aws, TENANT_ID) is None  # nothing leaks into another tenant


def test_a_key_rotated_after_the_secret_was_cached_is_accepted_after_one_fresh_read(aws: Stack) -> None:
    """The container cached the secret with the old key; the tenant's keys changed since."""
    log = RequestLog()
    sent = encode(sim_message("envelope-sent", "2024-01-01T00:00:00Z", status="sent"))
    assert call(http_event(sent))[0] == 200  # cached: HMAC_KEY alone
    assert log.take()["GetSecretValue"] == 1
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY, OTHER_KEY])
    # DocuSign signs with both keys: the old one verifies, and the second signature has the
    # secret read once more, so the new key is known (a rotation's new key proves itself).
    delivered = encode(sim_message("envelope-delivered", "2024-01-01T00:01:00Z", status="delivered"))
    assert call(http_event(delivered, keys=[HMAC_KEY, OTHER_KEY]))[0] == 200
    assert log.take()["GetSecretValue"] == 1
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[OTHER_KEY])
    completed = encode(sim_message("envelope-completed", "2024-01-01T00:02:00Z", status="completed"))
    assert call(http_event(completed, key=OTHER_KEY))[0] == 200  # the cached pair still has it
    assert "GetSecretValue" not in log.take()
    forged = encode(sim_message("envelope-voided", "2024-01-01T00:03:00Z", status="voided"))
    for _ in range(3):  # a flood of bad signatures: at most one read per tenant every few seconds
        assert call(http_event(forged, key="Zm9yZ2VkLWtleS1mb3JnZWQta2V5LWZvcmdlZC1rZXk="))[0] == 401
    assert log.take().get("GetSecretValue", 0) <= 1


def test_an_unknown_tenant_is_404_and_nothing_is_stored(aws: Stack) -> None:
    status, answer = call(
        http_event(fixture_bytes("sim_envelope_sent.json"), path="/webhooks/docusign/nobody")
    )
    assert (status, answer["error"]) == (404, "unknown_tenant")
    assert object_keys(aws) == []


def test_a_tenant_without_keys_refuses_everything(aws: Stack) -> None:
    seed_tenant(aws, "keyless", account_id=ACCOUNT_ID, hmac_keys=[])
    status, answer = call(
        http_event(fixture_bytes("sim_envelope_sent.json"), path="/webhooks/docusign/keyless")
    )
    assert (status, answer["error"]) == (401, "bad_signature")


@pytest.mark.parametrize(
    "event_kwargs",
    [{"key": OTHER_KEY}, {"key": None}, {"headers": {"x-docusign-signature-1": "AAAA"}}],
    ids=["wrong-key", "unsigned", "garbage-signature"],
)
def test_a_bad_signature_is_401_and_nothing_is_stored(aws: Stack, event_kwargs: dict[str, Any]) -> None:
    status, answer = call(http_event(fixture_bytes("sim_envelope_sent.json"), **event_kwargs))
    assert (status, answer["error"]) == (401, "bad_signature")
    assert "signature" in answer["message"]
    assert object_keys(aws) == []
    assert item_count(aws) == 0


def test_a_tampered_body_is_401(aws: Stack) -> None:
    event = http_event(fixture_bytes("sim_envelope_sent.json"))
    event["body"] = event["body"].replace('"sent"', '"voided"', 1)
    assert call(event)[0] == 401


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"", "application/json", 400, "malformed"),
        (b"{not json", "application/json", 400, "malformed"),
        (b'{"event": "envelope-sent", "data": {}}', "application/json", 400, "schema_violation"),
        (
            b"<!DOCTYPE x [<!ENTITY a 'a'>]><DocuSignEnvelopeInformation>&a;</DocuSignEnvelopeInformation>",
            "text/xml",
            400,
            "malformed",
        ),
        (b"name=value", "application/x-www-form-urlencoded", 415, "unsupported_content_type"),
    ],
    ids=["empty", "invalid-json", "schema", "xml-bomb", "form"],
)
def test_authentic_but_bad_bodies_are_refused_and_archived_for_inspection(
    aws: Stack, body: bytes, content_type: str, status: int, reason: str
) -> None:
    answer_status, answer = call(http_event(body, content_type=content_type))
    assert (answer_status, answer["error"]) == (status, reason)
    assert answer["message"]
    (key,) = object_keys(aws, "connect-rejected/")
    stored, head = read_object(aws, key)
    assert stored == body
    assert head["Metadata"]["reason"] == reason
    assert item_count(aws) == 0  # nothing half-written


def test_a_message_from_another_docusign_account_is_refused(aws: Stack) -> None:
    message = sim_message("envelope-sent", "2024-01-01T00:00:00Z", status="sent", account_id="someone-else")
    status, answer = call(http_event(encode(message)))
    assert (status, answer["error"]) == (403, "account_mismatch")
    assert object_keys(aws, "connect/") == []
    assert len(object_keys(aws, "connect-rejected/")) == 1
    assert item_count(aws) == 0


@pytest.mark.parametrize("size", [5_000_001, 20 * 1024 * 1024], ids=["past-the-limit", "20-MB"])
def test_a_huge_body_is_413_before_anything_is_stored(aws: Stack, size: int) -> None:
    body = b'{"event": "envelope-sent", "pad": "' + b"x" * size + b'"}'
    status, answer = call(http_event(body))
    assert (status, answer["error"]) == (413, "too_large")
    assert object_keys(aws) == []


def test_base64_flag_with_a_body_that_is_not_base64_is_400(aws: Stack) -> None:
    event = http_event(b"{}", base64_body=True)
    event["body"] = "***not base64***"
    assert call(event)[0] == 400


def test_a_failed_state_write_answers_500_so_docusign_retries_and_the_retry_lands(
    aws: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = fixture_bytes("sim_envelope_sent.json")
    dynamodb = clients.dynamodb()

    def unavailable(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "TransactWriteItems")

    monkeypatch.setattr(dynamodb, "transact_write_items", unavailable)
    status, answer = call(http_event(body))
    assert (status, answer["error"]) == (500, "internal")
    assert item_count(aws) == 0
    monkeypatch.undo()
    assert call(http_event(body))[0] == 200  # DocuSign's retry
    view = tracker(aws)
    assert view is not None
    assert view.envelope["status"] == "sent"
    assert len(object_keys(aws, "connect/")) == 1  # the same archive key: no duplicate object


def test_a_failed_archive_answers_500_and_writes_no_state(
    aws: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "PutObject")

    monkeypatch.setattr(clients.s3(), "put_object", unavailable)
    assert call(http_event(fixture_bytes("sim_envelope_sent.json")))[0] == 500
    assert item_count(aws) == 0


def test_minimal_messages_are_recorded_and_flag_a_refresh(aws: Stack) -> None:
    assert call(http_event(fixture_bytes("sim_minimal_recipient_completed.json")))[0] == 200
    view = tracker(aws)
    assert view is not None
    assert view.envelope["needs_refresh"] is True
    assert "status" not in view.envelope
    assert view.recipients[0]["status"] == "completed"
    assert call(http_event(fixture_bytes("sim_minimal_envelope_completed.json")))[0] == 200
    view = tracker(aws)
    assert view is not None
    assert view.envelope["status"] == "completed"


def test_header_names_are_matched_whatever_their_case(aws: Stack) -> None:
    event = http_event(fixture_bytes("sim_envelope_sent.json"))
    signature = event["headers"].pop("x-docusign-signature-1")
    event["headers"]["X-DocuSign-Signature-1"] = signature
    event["headers"]["Content-Type"] = event["headers"].pop("content-type")
    assert call(event)[0] == 200


def test_an_unrouted_path_is_404(aws: Stack) -> None:
    event = http_event(b"{}", path="/webhooks/other")
    event["routeKey"] = "$default"
    assert call(event)[0] == 404


def test_responses_are_small_json(aws: Stack) -> None:
    answer = app.lambda_handler(http_event(fixture_bytes("sim_envelope_sent.json")), FakeContext())
    assert answer["headers"]["Content-Type"] == "application/json"
    assert len(answer["body"]) < 200
    assert base64.b64encode(b"") == b""  # keeps the import honest for base64_body cases


def _deep_json() -> bytes:
    depth = 100_000
    return b'{"event": "envelope-sent", "data": ' + b"[" * depth + b"]" * depth + b"}"


def _huge_integer() -> bytes:
    message = sim_message(
        "envelope-sent", "2024-01-01T00:00:00Z", status="sent", signers=[signer("1", "sent")]
    )
    return encode(message).replace(b'"retryCount": 0', b'"retryCount": ' + b"9" * 5000)


def _offset(offset: str) -> bytes:
    return encode(sim_message("envelope-sent", f"2024-01-01T00:00:00{offset}", status="sent"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_deep_json(), "malformed"),
        (_huge_integer(), "malformed"),
        (_offset("+24:00"), "schema_violation"),
        (_offset("-99:59"), "schema_violation"),
    ],
    ids=["100k-deep-json", "5000-digit-integer", "utc+24", "utc-99"],
)
def test_signed_bodies_that_crashed_the_parser_are_refused_and_archived(
    aws: Stack, body: bytes, reason: str
) -> None:
    """Each of these answered 500 before: DocuSign retries a 5xx for days."""
    status, answer = call(http_event(body))
    assert (status, answer["error"]) == (400, reason)
    (key,) = object_keys(aws, "connect-rejected/")
    assert read_object(aws, key)[0] == body
    assert item_count(aws) == 0


def test_a_routing_order_in_another_scripts_digits_is_stored_without_one(aws: Stack) -> None:
    body = fixture_bytes("xml_recipient_declined.xml").replace(
        b"<RoutingOrder>1</RoutingOrder>", b"<RoutingOrder>\xc2\xb2</RoutingOrder>", 1
    )
    assert b"\xc2\xb2" in body
    status, _ = call(http_event(body, content_type="text/xml; charset=utf-8"))
    assert status == 200
    view = tracker(aws)
    assert view is not None
    assert None in [r.get("routing_order") for r in view.recipients]


def test_unknown_statuses_are_kept_raw_but_never_become_the_status(aws: Stack) -> None:
    sent = sim_message("envelope-sent", "2024-01-01T00:00:00Z", status="sent", signers=[signer("1", "sent")])
    assert call(http_event(encode(sent)))[0] == 200
    for status in ("bogus-status", 12345):
        later = sim_message(
            "envelope-completed",
            "2024-01-01T01:00:00Z",
            status=status,  # type: ignore[arg-type]
            signers=[signer("1", status)],  # type: ignore[arg-type]
        )
        assert call(http_event(encode(later)))[0] == 200
    view = tracker(aws)
    assert view is not None
    assert view.envelope["status"] == "sent"  # not "bogus-status", and the order key did not move
    assert view.envelope["order"].startswith("2024-01-01T00:00:00")
    assert view.envelope["reported_status"] == "bogus-status"
    (recipient,) = view.recipients
    assert (recipient["status"], recipient["reported_status"]) == ("sent", "bogus-status")
    # The real completion still lands after the unknown ones.
    done = sim_message(
        "envelope-completed", "2024-01-01T00:30:00Z", status="completed", signers=[signer("1", "completed")]
    )
    assert call(http_event(encode(done)))[1]["status"] == "applied"


def test_a_recipient_name_past_the_item_limit_is_stored_bounded_and_archived_whole(aws: Stack) -> None:
    """A poison message: the item would pass 400 KB, fail on every retry and re-archive each time."""
    name = "N" * 450_000
    body = encode(
        sim_message(
            "envelope-sent", "2024-01-01T00:00:00Z", status="sent", signers=[signer("1", "sent", name=name)]
        )
    )
    status, answer = call(http_event(body))
    assert (status, answer["status"]) == (200, "applied")
    view = tracker(aws)
    assert view is not None
    stored = view.recipients[0]["name"]
    assert len(stored) == 500
    assert stored.endswith("\u2026")
    (key,) = object_keys(aws, "connect/")
    assert read_object(aws, key)[0] == body  # the archive keeps the whole value


def test_what_still_cannot_fit_an_item_is_refused_naming_it(aws: Stack) -> None:
    documents = [
        {
            "documentId": str(number),
            "name": f"Document {number}.pdf",
            "type": "content",
            "PDFBytes": "JVBERi0xLjQK",
        }
        for number in range(1, 3001)
    ]
    message = sim_message(
        "envelope-completed",
        "2024-01-01T00:00:00Z",
        status="completed",
        signers=[signer("1", "completed")],
        summary_extra={"envelopeDocuments": documents},
    )
    body = encode(message)
    assert len(body) < 5_000_000
    status, answer = call(http_event(body))
    assert (status, answer["error"]) == (422, "too_large_to_record")
    assert "envelope item" in answer["message"]
    assert object_keys(aws, "connect/") == []  # refused before anything was archived as accepted
    (key,) = object_keys(aws, "connect-rejected/")
    assert read_object(aws, key)[1]["Metadata"]["reason"] == "too_large_to_record"
    assert item_count(aws) == 0
