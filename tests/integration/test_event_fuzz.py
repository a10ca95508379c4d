"""Any CRM event, stage event or SES event, through its handler under moto: a result or a refusal.

The functions behind EventBridge and SES are invoked asynchronously: a refusal is an error
Lambda retries and then keeps, with its message, in the function's failure queue. So the
acceptable refusals are the ones that name what is wrong (pydantic's ValidationError and
the other ValueErrors, a thread that is not known); a KeyError, a TypeError or an
AttributeError is a crash that names nothing, and fails the property. Each seed is a
documented example (docs/events.md) with one field replaced by a hostile value.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealwire.mail.deliveries import UnsupportedRecord
from dealwire.projection import UnknownThreadChosen
from tests.mail_support import bcc_mail, put_raw, seed_crm, ses_event
from tests.support import FakeContext
from tests.unit.test_connect_fuzz import _paths, _replaced, odd_values
from tests.unit.test_event_docs import examples

if TYPE_CHECKING:
    from infra.local.template import Stack

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REFUSALS = (ValueError, UnknownThreadChosen)
CRM = [e for e in examples() if e.get("source") == "crm" and e["detail-type"] != "deal.stage_changed"]
(STAGE,) = [e for e in examples() if e.get("detail-type") == "deal.stage_changed"]


def outcome(handler: Any, event: dict[str, Any]) -> str:
    try:
        handler(event, FakeContext())
    except REFUSALS:
        return "refused"
    return "handled"


@FUZZ
@given(data=st.data(), value=odd_values)
def test_a_crm_event_with_any_field_replaced(aws: Stack, data: st.DataObject, value: Any) -> None:
    from crm_projection import app

    seed = data.draw(st.sampled_from(CRM))
    path = data.draw(st.sampled_from(_paths(seed)))
    assert outcome(app.lambda_handler, _replaced(seed, path, value)) in {"refused", "handled"}


@FUZZ
@given(data=st.data(), value=odd_values)
def test_a_stage_event_with_any_field_replaced(aws: Stack, data: st.DataObject, value: Any) -> None:
    from stage_trigger import app

    path = data.draw(st.sampled_from(_paths(STAGE)))
    assert outcome(app.lambda_handler, _replaced(STAGE, path, value)) in {"refused", "handled"}


SES = ses_event("fuzzed")
SES_PATHS = _paths(SES)


@FUZZ
@given(data=st.data(), value=odd_values)
def test_an_ses_event_with_any_field_replaced(aws: Stack, data: st.DataObject, value: Any) -> None:
    from mail_ingest import app

    seed_crm(aws)
    put_raw(aws, "fuzzed", bcc_mail())
    event = _replaced(copy.deepcopy(SES), data.draw(st.sampled_from(SES_PATHS)), value)
    assert outcome(app.lambda_handler, event) in {"refused", "handled"}


@pytest.mark.parametrize(
    "event",
    [
        {"Records": None},
        {"Records": "x"},
        {"Records": ["x"]},
        {},
        {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": "bucket"}]},
    ],
    ids=["records-null", "records-text", "a-record-text", "no-records", "s3-not-an-object"],
)
def test_what_the_fuzzing_found_an_event_that_is_no_list_of_records_is_refused_by_name(
    aws: Stack, event: dict[str, Any]
) -> None:
    """These crashed with TypeError and AttributeError before: Lambda kept them, naming nothing."""
    from mail_ingest import app

    with pytest.raises(UnsupportedRecord):
        app.lambda_handler(event, FakeContext())
