"""Every Connect wire format, as documented and as the fixtures in tests/events reproduce it."""

from __future__ import annotations

import json
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from dealwire.contracts.connect_json import parse_envelope_document
from dealwire.contracts.connect_message import parse_connect_message, wire_syntax
from dealwire.contracts.errors import MalformedPayload, SchemaViolation, UnsupportedContentType
from dealwire.domain.changes import plan_writes
from dealwire.domain.envelope_event import EXPIRY
from dealwire.store.table import TTL_ATTRIBUTE
from tests.support import ACCOUNT_ID, ENVELOPE_ID, encode, fixture_bytes, signer, sim_message


def parse(body: bytes, content_type: str | None = "application/json", zone: object = UTC):
    return parse_connect_message(body, content_type, account_id=ACCOUNT_ID, account_zone=zone)  # type: ignore[arg-type]


def test_sim_with_envelope_data_is_a_snapshot_of_every_recipient() -> None:
    event = parse(fixture_bytes("sim_envelope_sent.json"))
    assert event.wire_format == "sim"
    assert event.snapshot
    assert (event.event, event.envelope.status, event.envelope_id) == ("envelope-sent", "sent", ENVELOPE_ID)
    assert event.envelope.deal_id == "deal-1001"
    assert event.envelope.subject
    assert [(r.recipient_id, r.recipient_type) for r in event.recipients] == [
        ("1", "signer"),
        ("2", "signer"),
        ("3", "carboncopy"),
    ]
    assert event.recipients[0].routing_order == 1  # "1" on the wire


def test_sim_generated_time_keeps_docusigns_100ns_precision() -> None:
    event = parse(fixture_bytes("sim_recipient_completed_last.json"))
    assert event.generated == "2024-03-04T16:22:10.1047785Z"


def test_sim_decline_carries_the_reason() -> None:
    event = parse(fixture_bytes("sim_recipient_declined.json"))
    declined = next(r for r in event.recipients if r.status == "declined")
    assert declined.decline_reason
    assert "declined_at" in declined.timestamps


def test_sim_void_carries_the_reason() -> None:
    event = parse(fixture_bytes("sim_envelope_voided.json"))
    assert event.envelope.status == "voided"
    assert event.envelope.voided_reason


def test_minimal_sim_messages_carry_no_status_and_are_not_snapshots() -> None:
    envelope_event = parse(fixture_bytes("sim_minimal_envelope_completed.json"))
    assert not envelope_event.snapshot
    assert envelope_event.envelope.status is None
    assert envelope_event.recipients == ()
    recipient_event = parse(fixture_bytes("sim_minimal_recipient_completed.json"))
    assert [r.recipient_id for r in recipient_event.recipients] == [recipient_event.recipient_id]
    assert recipient_event.recipients[0].status is None


def test_documents_embedded_in_sim_are_decoded() -> None:
    event = parse(fixture_bytes("sim_envelope_completed_with_documents.json"))
    assert event.documents
    assert all(document.pdf_bytes.startswith(b"%PDF") for document in event.documents)


def test_aggregate_json_is_the_envelope_itself_ordered_by_its_latest_timestamp() -> None:
    event = parse(fixture_bytes("aggregate_envelope_completed.json"))
    assert event.wire_format == "aggregate"
    assert event.snapshot
    assert event.envelope.status == "completed"
    happened = {name: stamp for name, stamp in event.envelope.timestamps.items() if name != EXPIRY}
    assert event.generated == max(happened.values())  # not the expiry date, which lies ahead
    assert event.envelope.timestamps[EXPIRY] == "2024-07-02T16:00:02.4570000Z"
    assert event.account_id == ACCOUNT_ID


def test_no_envelope_write_carries_the_tables_ttl_attribute() -> None:
    """DynamoDB deletes an item whose TTL attribute is a past time: an envelope must never have it."""
    event = parse(fixture_bytes("aggregate_envelope_completed.json"))
    writes = plan_writes(event, tenant_id="default", archive_key="connect/x.json")
    assert writes
    assert all(TTL_ATTRIBUTE not in {**w.ordered, **w.fill, **w.always} for w in writes)


def test_xml_takes_the_envelopes_own_status_not_the_first_recipients() -> None:
    event = parse(fixture_bytes("xml_recipient_declined.xml"), "text/xml; charset=utf-8")
    assert event.wire_format == "xml"
    assert event.envelope.status == "declined"
    assert event.recipients[0].status == "completed"  # the first <Status> in document order
    assert event.account_id == ACCOUNT_ID  # XML names no account: the tenant's


def test_xml_local_times_use_time_zone_offset_when_present() -> None:
    body = fixture_bytes("xml_envelope_completed.xml")
    assert b"<TimeZoneOffset>" in body
    berlin = parse(body, "text/xml", ZoneInfo("Europe/Berlin"))
    utc = parse(body, "text/xml", UTC)
    assert berlin.generated == utc.generated  # the offset in the message wins over the account's zone
    assert berlin.documents
    assert berlin.documents[0].pdf_bytes.startswith(b"%PDF")


def test_xml_without_offset_uses_the_accounts_zone() -> None:
    body = fixture_bytes("xml_recipient_declined.xml")
    assert b"TimeZoneOffset" not in body
    utc = parse(body, "text/xml", UTC)
    new_york = parse(body, "text/xml", ZoneInfo("America/New_York"))
    assert utc.generated < new_york.generated  # local 16:21 in New York is later in UTC


@pytest.mark.parametrize(
    ("content_type", "body", "syntax"),
    [
        ("application/json; charset=utf-8", b"{}", "json"),
        ("TEXT/XML", b"<a/>", "xml"),
        ("application/vnd.docusign+json", b"{}", "json"),
        (None, b"  {}", "json"),
        (None, b"<?xml version='1.0'?><a/>", "xml"),
    ],
)
def test_wire_syntax(content_type: str | None, body: bytes, syntax: str) -> None:
    assert wire_syntax(body, content_type) == syntax


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]
)
def test_wrong_content_types_are_refused(content_type: str) -> None:
    with pytest.raises(UnsupportedContentType):
        parse(b'{"event": "envelope-sent"}', content_type)


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (b"", MalformedPayload, "empty body"),
        (b"   \n", MalformedPayload, "empty body"),
        (b"{not json", MalformedPayload, "not valid JSON"),
        (b"[1, 2]", MalformedPayload, "not an object"),
        (b"\xff\xfe{}", MalformedPayload, "not valid JSON"),
        (b'{"hello": "world"}', SchemaViolation, "not a DocuSign Connect message"),
        (b'{"event": "envelope-sent", "data": {}}', SchemaViolation, "data.accountId"),
        (
            b'{"event": "envelope-sent", "generatedDateTime": "soon",'
            b' "data": {"accountId": "a", "envelopeId": "e"}}',
            SchemaViolation,
            "generatedDateTime",
        ),
    ],
)
def test_bad_json_names_the_problem(body: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        parse(body)


def test_a_recipient_without_an_id_is_a_schema_violation_naming_it() -> None:
    message = sim_message(
        "envelope-sent", "2024-01-01T00:00:00Z", status="sent", signers=[{"status": "sent"}]
    )
    with pytest.raises(SchemaViolation, match=r"recipients.signers\[0\].recipientId"):
        parse(encode(message))


def test_unknown_fields_are_kept_not_rejected() -> None:
    message = sim_message(
        "envelope-sent", "2024-01-01T00:00:00Z", status="sent", signers=[signer("1", "sent", brandNew=True)]
    )
    message["futureField"] = {"x": 1}
    message["data"]["envelopeSummary"]["anotherNewThing"] = [1, 2]
    assert parse(encode(message)).envelope.status == "sent"


def test_an_odd_routing_order_is_dropped_not_refused() -> None:
    signers = [signer("1", "sent"), signer("2", "sent")]
    signers[0]["routingOrder"], signers[1]["routingOrder"] = "", "first"
    message = sim_message("envelope-sent", "2024-01-01T00:00:00Z", status="sent", signers=signers)
    assert [r.routing_order for r in parse(encode(message)).recipients] == [None, None]


def test_numbers_where_strings_are_usual_are_accepted() -> None:
    message = sim_message(
        "envelope-sent", "2024-01-01T00:00:00Z", status="sent", signers=[signer("1", "sent")]
    )
    message["data"]["envelopeSummary"]["recipients"]["signers"][0]["recipientId"] = 1
    message["configurationId"] = "10418446"
    assert parse(encode(message)).recipients[0].recipient_id == "1"


XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<DocuSignEnvelopeInformation><EnvelopeStatus><Subject>&lol3;</Subject></EnvelopeStatus></DocuSignEnvelopeInformation>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<DocuSignEnvelopeInformation><EnvelopeStatus><Subject>&secret;</Subject></EnvelopeStatus></DocuSignEnvelopeInformation>"""


@pytest.mark.parametrize("body", [XML_BOMB, XXE], ids=["billion-laughs", "external-entity"])
def test_xml_with_a_dtd_is_refused_before_any_expansion(body: bytes) -> None:
    with pytest.raises(MalformedPayload, match="DTDs and entities are not allowed"):
        parse(body, "text/xml")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<DocuSignEnvelopeInformation><EnvelopeStatus>", "not well-formed"),
        (b"<html><body/></html>", "expected <DocuSignEnvelopeInformation>"),
        (b"<DocuSignEnvelopeInformation/>", "no <EnvelopeStatus>"),
        (
            b"<DocuSignEnvelopeInformation><EnvelopeStatus><Status>Sent</Status></EnvelopeStatus>"
            b"</DocuSignEnvelopeInformation>",
            "lacks <EnvelopeID>, <TimeGenerated>",
        ),
    ],
)
def test_bad_xml_names_the_problem(body: bytes, words: str) -> None:
    with pytest.raises((MalformedPayload, SchemaViolation), match=words):
        parse(body, "text/xml")


def test_json_fixture_corpus_all_parse() -> None:
    # Guards the corpus itself: a fixture that stops parsing is a format change to study.
    for name in (
        "sim_envelope_completed.json",
        "sim_recipient_delivered.json",
        "sim_recipient_completed.json",
    ):
        json.loads(fixture_bytes(name))
        assert parse(fixture_bytes(name)).envelope_id == ENVELOPE_ID


def test_an_envelope_read_from_the_api_parses_like_the_aggregate_format() -> None:
    from dealwire.contracts.connect_json import parse_envelope_document

    event = parse_envelope_document(
        json.loads(fixture_bytes("aggregate_envelope_completed.json")), ACCOUNT_ID
    )
    assert (event.wire_format, event.envelope.status, event.snapshot) == ("api", "completed", True)
    assert len(event.recipients) == 3


def test_the_envelopes_document_list_is_kept_from_every_format_that_lists_it() -> None:
    xml = parse(fixture_bytes("xml_envelope_completed.xml"), "text/xml; charset=utf-8")
    assert [(d.document_id, d.name) for d in xml.envelope.documents] == [
        ("1", "Share Purchase Agreement.pdf")
    ]
    # The REST envelope (a refresh, include=documents) lists them without their bytes.
    envelope = json.loads(fixture_bytes("aggregate_envelope_completed.json"))
    envelope["envelopeDocuments"] = [
        {"documentId": "1", "name": "Agreement.pdf", "type": "content"},
        {"documentId": "certificate", "name": "Summary", "type": "summary"},
        {"documentId": "../x", "name": "not an id", "type": "content"},
    ]
    refreshed = parse_envelope_document(envelope, ACCOUNT_ID)
    assert [(d.document_id, d.kind) for d in refreshed.envelope.documents] == [
        ("1", "content"),
        ("certificate", "summary"),
    ]
