"""POST /v1/deals/{dealId}/envelopes: a document sent by hand, against moto and the DocuSign simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.docusign_support import envelopes_of_deal
from tests.infra.test_docusign_sim import Api
from tests.integration.api_support import ULLA, api
from tests.integration.test_api import crm_api

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.docusign_sim import Simulator, SimulatorControl

__all__ = ["crm_api"]  # a fixture, used by name below
ROUTE = "/v1/deals/deal-42/envelopes"
SEND: dict[str, Any] = {
    "templateId": "tpl-nda",
    "recipients": [
        {"roleName": "Signer 1", "name": "Carla Customer", "email": "carla@customer.example",
         "routingOrder": 1, "emailSubject": "Carla, your NDA", "emailBody": "As discussed."},
        {"roleName": "Signer 2", "name": "Bob Buyer", "phone": {"countryCode": "49", "number": "15112345678"},
         "delivery": "sms", "routingOrder": 2},
    ],
    "emailSubject": "NDA for Q3 licences",
    "emailMessage": "Please sign.",
    "reminders": {"delayDays": 1, "frequencyDays": 2},
    "expiration": {"afterDays": 10, "warnDays": 2},
}  # fmt: skip


@pytest.fixture
def control(crm_api: SimulatorControl) -> SimulatorControl:
    """The API function pointed at the simulator (test_api's set-up), as its control sees it."""
    return crm_api


def sent_envelopes(control: SimulatorControl) -> list[dict[str, Any]]:
    return envelopes_of_deal(control, "deal-42")


def rest(sim: Simulator, key: rsa.RSAPrivateKey, path: str, **kwargs: Any) -> dict[str, Any]:
    with httpx.Client(trust_env=False, timeout=10) as http:
        answer = Api(http, sim, key).call("GET", path, **kwargs)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_user_sends_from_a_template_to_the_recipients_they_chose(
    control: SimulatorControl, sim: Simulator, private_key: rsa.RSAPrivateKey
) -> None:
    status, sent = api("POST", ROUTE, body=SEND, claims=ULLA)
    assert status == 200, sent
    assert sent["status"] == "sent"
    envelope = rest(sim, private_key, f"envelopes/{sent['envelopeId']}", params={"include": "recipients"})
    assert (envelope["emailSubject"], envelope["emailBlurb"]) == ("NDA for Q3 licences", "Please sign.")
    first, second = envelope["recipients"]["signers"]
    assert (first["name"], first["email"], first["emailNotification"]["emailSubject"]) == (
        "Carla Customer",
        "carla@customer.example",
        "Carla, your NDA",
    )
    assert (second["deliveryMethod"].lower(), second["phoneNumber"]["number"]) == ("sms", "15112345678")
    notification = rest(sim, private_key, f"envelopes/{sent['envelopeId']}/notification")
    assert notification["expirations"]["expireAfter"] == "10"
    # The tracker knows it at once, and who sent it.
    status, tracker = api("GET", f"/v1/envelopes/{sent['envelopeId']}", claims=ULLA)
    assert (status, tracker["dealId"]) == (200, "deal-42")
    assert tracker["sentBy"] == {"ruleId": None, "userId": ULLA["sub"]}


def test_one_active_process_per_deal_and_template_unless_replaced(control: SimulatorControl) -> None:
    first = api("POST", ROUTE, body=SEND, claims=ULLA)[1]
    status, refused = api("POST", ROUTE, body=SEND, claims=ULLA)
    assert (status, refused["error"]["code"]) == (409, "signing_process_active")
    assert first["envelopeId"] in refused["error"]["message"]
    status, second = api("POST", ROUTE, body={**SEND, "replace": True}, claims=ULLA)
    assert status == 200, second
    assert second["replacedEnvelopeId"] == first["envelopeId"]
    assert [e["status"] for e in sent_envelopes(control)] == ["voided", "sent"]


def test_an_idempotency_key_gives_a_retry_the_first_answer(control: SimulatorControl) -> None:
    headers = {"Idempotency-Key": "crm-send-1"}
    first = api("POST", ROUTE, body=SEND, claims=ULLA, headers=headers)
    again = api("POST", ROUTE, body=SEND, claims=ULLA, headers=headers)
    assert first[0] == again[0] == 200
    assert first[1] == again[1]
    assert len(sent_envelopes(control)) == 1
    status, refused = api("POST", ROUTE, body={**SEND, "emailSubject": "Other"}, claims=ULLA, headers=headers)
    assert (status, refused["error"]["code"]) == (409, "idempotency_key_reused")


def test_a_lost_answer_from_docusign_still_ends_with_one_envelope(control: SimulatorControl) -> None:
    control.add_fault("drop_response", path_prefix="/restapi/v2.1/accounts", method="POST")
    status, sent = api("POST", ROUTE, body=SEND, claims=ULLA)
    assert status == 200, sent
    assert [e["envelopeId"] for e in sent_envelopes(control)] == [sent["envelopeId"]]


def test_a_draft_answers_the_sender_view_and_sends_from_there(control: SimulatorControl) -> None:
    body = {**SEND, "draft": True, "returnUrl": "https://crm.example.com/deals/42"}
    status, drafted = api("POST", ROUTE, body=body, claims=ULLA)
    assert status == 200, drafted
    assert drafted["status"] == "created"
    assert "/sender/" in drafted["senderViewUrl"]
    (envelope,) = sent_envelopes(control)
    assert envelope["status"] == "created"
    control.send_draft(drafted["envelopeId"])  # the user presses Send in DocuSign's view
    status, tracker = api("GET", f"/v1/envelopes/{drafted['envelopeId']}", claims=ULLA)
    assert (status, tracker["status"]) == (200, "sent")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"templateId": "tpl-missing"}, 404, "template_not_found"),
        ({"recipients": [{"roleName": "Witness", "name": "W", "email": "w@x.example"}]},
         400, "role_not_in_template"),
        ({"recipients": [{"roleName": "Signer 1", "name": "C", "email": "c@x.example",
                          "type": "carbon_copy"}]}, 400, "role_type_differs"),
        ({"recipients": [{"roleName": "Signer 1", "name": "C", "delivery": "sms"}]}, 400, "invalid_request"),
        ({"draft": True}, 400, "invalid_request"),
        # Found by the API's contract test: it became part of DocuSign's URL and failed as a 500.
        ({"templateId": "tpl\x06"}, 400, "invalid_request"),
        ({"templateId": "../accounts"}, 400, "invalid_request"),
    ],
)  # fmt: skip
def test_what_cannot_be_sent_is_refused_before_docusign_is_asked_to(
    control: SimulatorControl, change: dict[str, Any], status: int, code: str
) -> None:
    answer = api("POST", ROUTE, body={**SEND, **change}, claims=ULLA)
    assert (answer[0], answer[1]["error"]["code"]) == (status, code), answer
    assert sent_envelopes(control) == []
