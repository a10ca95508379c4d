"""Any body an authentic sender could sign: the parsers end in a storable event or a refusal.

Nothing else is acceptable: an exception other than ``ConnectRefusal`` is a 500, which
DocuSign retries for days, and an event whose writes DynamoDB would refuse is a poison
message. So every result is also planned, checked against the item limit, and its
requests validated against botocore's model and encoded as botocore would send them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from typing import Any

from botocore.session import get_session
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealwire.contracts.connect_message import parse_connect_message
from dealwire.contracts.errors import ConnectRefusal
from dealwire.domain.changes import plan_writes
from dealwire.store.envelopes import build_update, check_fits
from dealwire.store.table import ItemTooLarge
from tests.support import ACCOUNT_ID, fixture_bytes, signer, sim_message

MODEL = get_session().get_service_model("dynamodb")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
)
# What a field may hold when a sender is wrong, hostile or new: other types, other scripts'
# digits, lone surrogates, offsets past a day, huge numbers.
odd_values = (
    json_values
    | st.sampled_from(["²", "١٢", "\ud800", "9" * 400, "2024-01-01T00:00:00+24:00", "bogus-status", "", " "])
    | st.integers(min_value=10**30)
)


def outcome(body: bytes, content_type: str | None) -> str:
    """'refused' or 'stored'; anything else raises and fails the property."""
    try:
        event = parse_connect_message(body, content_type, account_id=ACCOUNT_ID, account_zone=UTC)
    except ConnectRefusal:
        return "refused"
    writes = plan_writes(event, tenant_id="t", archive_key="connect/t/e/k.json")
    try:
        check_fits("t", event.envelope_id, writes)
    except ItemTooLarge:
        return "refused"
    for write in writes:
        for stale in (None, frozenset({"tenant_id"})):
            update = build_update("table", "t", event.envelope_id, write, stale_with=stale, write_id="w")
            if update is None:
                continue
            report = ParamValidator().validate(update, MODEL.operation_model("UpdateItem").input_shape)
            assert not report.has_errors(), report.generate_report()
            json.dumps(update).encode("utf-8")  # what botocore sends: no lone surrogate survives
    return "stored"


@FUZZ
@given(body=st.binary(max_size=400), content_type=st.sampled_from([None, "application/json", "text/xml"]))
def test_any_bytes(body: bytes, content_type: str | None) -> None:
    assert outcome(body, content_type) in {"refused", "stored"}


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        return {**document, head: _replaced(document[head], rest, value)}
    copy = list(document)
    copy[head] = _replaced(copy[head], rest, value)
    return copy


SIM = sim_message(
    "envelope-completed",
    "2024-01-01T00:00:00.1234567Z",
    status="completed",
    signers=[
        signer("1", "completed", signedDateTime="2024-01-01T00:00:00Z"),
        signer("2", "sent", routing_order=2),
    ],
    summary_extra={"envelopeDocuments": [{"documentId": "1", "name": "a.pdf", "PDFBytes": "JVBERi0xLjQK"}]},
)
SIM_PATHS = _paths(SIM)
AGGREGATE = json.loads(fixture_bytes("aggregate_envelope_completed.json"))
AGGREGATE_PATHS = _paths(AGGREGATE)


@FUZZ
@given(data=st.data(), value=odd_values)
def test_a_sim_message_with_any_field_replaced(data: st.DataObject, value: Any) -> None:
    path = data.draw(st.sampled_from(SIM_PATHS))
    body = json.dumps(_replaced(SIM, path, value)).encode()
    assert outcome(body, "application/json") in {"refused", "stored"}


@FUZZ
@given(data=st.data(), value=odd_values)
def test_an_aggregate_message_with_any_field_replaced(data: st.DataObject, value: Any) -> None:
    path = data.draw(st.sampled_from(AGGREGATE_PATHS))
    body = json.dumps(_replaced(AGGREGATE, path, value)).encode()
    assert outcome(body, "application/json") in {"refused", "stored"}


XML = fixture_bytes("xml_recipient_declined.xml").decode("utf-8")
XML_TEXTS = [match.span(1) for match in re.finditer(r">([^<>]+)</", XML)]
xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="<>&\x00"), max_size=60
) | st.sampled_from(["²", "١٢", "-99", "5.5", "nan", "2024-13-45T99:99:99", "Bogus", "9" * 500])


@FUZZ
@given(data=st.data(), text=xml_text)
def test_an_xml_message_with_any_text_replaced(data: st.DataObject, text: str) -> None:
    start, end = data.draw(st.sampled_from(XML_TEXTS))
    body = (XML[:start] + text + XML[end:]).encode("utf-8", "surrogatepass")
    assert outcome(body, "text/xml") in {"refused", "stored"}


def test_the_untouched_messages_are_stored() -> None:
    """The fuzzed messages start from bodies that parse: a mutation is what gets refused."""
    assert outcome(json.dumps(SIM).encode(), "application/json") == "stored"
    assert outcome(json.dumps(AGGREGATE).encode(), "application/json") == "stored"
    assert outcome(XML.encode(), "text/xml") == "stored"


def test_the_review_cases_end_as_they_should() -> None:
    deep = b'{"event": "envelope-sent", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    huge = json.dumps(SIM).replace('"retryCount": 0', '"retryCount": ' + "9" * 5000).encode()
    offset = json.dumps(_replaced(SIM, ("generatedDateTime",), "2024-01-01T00:00:00-24:00")).encode()
    superscript = XML.replace("<RoutingOrder>1</RoutingOrder>", "<RoutingOrder>²</RoutingOrder>", 1).encode()
    assert [outcome(deep, None), outcome(huge, None), outcome(offset, None)] == ["refused"] * 3
    assert outcome(superscript, "text/xml") == "stored"
