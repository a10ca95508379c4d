"""infra/docusign_sim: sending from templates as stage automation does, and finding a send again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest

from infra.docusign_sim import Simulator, SimulatorControl, SimulatorControlError
from tests.docusign_support import new_private_key, simulator
from tests.infra.test_docusign_sim import HMAC_KEY, Api, Receiver, parse

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cryptography.hazmat.primitives.asymmetric import rsa

ALICE = {"roleName": "Signer 1", "name": "Alice Buyer", "email": "alice@example.com"}
BOB = {"roleName": "Signer 2", "name": "Bob Seller", "email": "bob@example.com"}
SALES_ROLES = [
    {
        "roleName": "Customer",
        "tabs": [{"tabLabel": "deal_title", "value": "Untitled"}, {"tabLabel": "amount"}],
    },
    {"roleName": "Legal", "type": "carboncopy", "name": "Legal Team", "email": "legal@example.com"},
    {"roleName": "Finance", "type": "certifieddelivery", "routingOrder": "3"},
]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_private_key()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def sim(key: rsa.RSAPrivateKey, receiver: Receiver) -> Iterator[Simulator]:
    with simulator(key, webhook_url=receiver.url, hmac_keys=[HMAC_KEY]) as started:
        yield started


@pytest.fixture
def control(sim: Simulator) -> SimulatorControl:
    return SimulatorControl(sim.url)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture
def api(http: httpx.Client, sim: Simulator, key: rsa.RSAPrivateKey) -> Api:
    return Api(http, sim, key)


def a_day_ago() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(api: Api, body: dict[str, Any]) -> httpx.Response:
    return api.call("POST", "envelopes", json=body)


def test_templates_are_listed_and_read_in_docusigns_shapes(api: Api, control: SimulatorControl) -> None:
    control.register_template(
        "tpl-sales",
        SALES_ROLES,
        name="Sales order",
        description="Order form",
        documents=[{"documentId": "1", "name": "Order.pdf", "pages": 2}, {"name": "Terms.pdf"}],
    )
    control.register_template("tpl-empty", [], name="No roles yet")
    control.register_template("tpl-blank", [{"roleName": "Signer"}], name="No documents", documents=[])

    listed = api.call("GET", "templates").json()
    assert (listed["resultSetSize"], listed["totalSetSize"], listed["startPosition"]) == ("4", "4", "0")
    assert [t["name"] for t in listed["envelopeTemplates"]] == [
        "Mutual NDA",
        "No documents",
        "No roles yet",
        "Sales order",
    ]
    first = listed["envelopeTemplates"][0]
    assert {"templateId", "name", "description", "emailSubject", "created", "lastModified"} <= set(first)
    assert "recipients" not in first  # only with include=recipients
    found = api.call("GET", "templates", params={"search_text": "sales"}).json()
    assert [t["templateId"] for t in found["envelopeTemplates"]] == ["tpl-sales"]
    page = api.call("GET", "templates", params={"start_position": "1", "count": "2"}).json()
    assert [t["name"] for t in page["envelopeTemplates"]] == ["No documents", "No roles yet"]
    assert (page["endPosition"], "nextUri" in page, "previousUri" in page) == ("2", True, True)

    sales = api.call("GET", "templates/tpl-sales").json()
    recipients = sales["recipients"]
    (customer,) = recipients["signers"]
    assert (customer["roleName"], customer["routingOrder"], customer["recipientId"]) == ("Customer", "1", "1")
    assert "email" not in customer  # the sender names the customer
    assert [(t["tabLabel"], t["value"]) for t in customer["tabs"]["textTabs"]] == [
        ("deal_title", "Untitled"),
        ("amount", ""),
    ]
    assert [(c["roleName"], c["name"], c["email"]) for c in recipients["carbonCopies"]] == [
        ("Legal", "Legal Team", "legal@example.com")
    ]
    assert [(c["roleName"], c["routingOrder"]) for c in recipients["certifiedDeliveries"]] == [
        ("Finance", "3")
    ]
    assert [(d["documentId"], d["name"], d["order"], d["pages"]) for d in sales["documents"]] == [
        ("1", "Order.pdf", "1", "2"),
        ("2", "Terms.pdf", "2", "1"),
    ]
    nda = api.call("GET", "templates/tpl-nda").json()
    assert [(s["roleName"], s["tabs"]["textTabs"][0]["tabLabel"]) for s in nda["recipients"]["signers"]] == [
        ("Signer 1", "deal_title"),
        ("Signer 2", "signer_company"),
    ]
    assert api.call("GET", "templates/tpl-blank").json()["documents"] == []
    assert api.call("GET", "templates/tpl-empty").json()["recipients"]["recipientCount"] == "0"

    missing = api.call("GET", "templates/tpl-missing")
    assert (missing.status_code, missing.json()["errorCode"]) == (400, "TEMPLATE_ID_INVALID")


def test_an_envelope_from_a_template_carries_everything_given(
    api: Api, control: SimulatorControl, receiver: Receiver
) -> None:
    control.register_template("tpl-sales", SALES_ROLES, name="Sales order")
    answer = create(
        api,
        {
            "templateId": "tpl-sales",
            "status": "sent",
            "emailSubject": "Deal 1001: order form",
            "emailBlurb": "Please sign the order.",
            "transactionId": "send-tenant1-deal1001-rule7",
            "customFields": {"textCustomFields": [{"name": "dealwire_send_id", "value": "send-1"}]},
            "notification": {
                "useAccountDefaults": "false",
                "reminders": {"reminderEnabled": "true", "reminderDelay": "2", "reminderFrequency": "3"},
                "expirations": {"expireEnabled": "true", "expireAfter": "30", "expireWarn": "5"},
            },
            "templateRoles": [
                {
                    "roleName": "Customer",
                    "name": "Carol Customer",
                    "email": "carol@example.com",
                    "routingOrder": "2",
                    "clientUserId": "contact-42",
                    "emailNotification": {"emailSubject": "For Carol", "emailBody": "Hi Carol"},
                    "additionalNotifications": [
                        {
                            "secondaryDeliveryMethod": "SMS",
                            "phoneNumber": {"countryCode": "1", "number": "4155550100"},
                        }
                    ],
                    "tabs": {
                        "textTabs": [
                            {"tabLabel": "deal_title", "value": "Deal 1001"},
                            {"tabLabel": "not_in_template", "value": "ignored"},
                        ]
                    },
                },
                {"roleName": "Finance", "name": "Fay Finance", "email": "fay@example.com"},
                {"roleName": "Nobody", "name": "Not In Template", "email": "nobody@example.com"},  # ignored
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    envelope_id = answer.json()["envelopeId"]

    envelope = api.call(
        "GET", f"envelopes/{envelope_id}", params={"include": "recipients,notifications"}
    ).json()
    assert (envelope["transactionId"], envelope["emailBlurb"]) == (
        "send-tenant1-deal1001-rule7",
        "Please sign the order.",
    )
    assert (envelope["expireAfter"], envelope["expireEnabled"]) == ("30", "true")
    assert envelope["notification"]["reminders"] == {
        "reminderEnabled": "true",
        "reminderDelay": "2",
        "reminderFrequency": "3",
    }
    notification = api.call("GET", f"envelopes/{envelope_id}/notification").json()
    assert notification == envelope["notification"]
    assert notification["expirations"] == {"expireEnabled": "true", "expireAfter": "30", "expireWarn": "5"}
    assert "tabs" not in envelope["recipients"]["signers"][0]  # only with include=tabs / include_tabs

    recipients = api.call(
        "GET", f"envelopes/{envelope_id}/recipients", params={"include_tabs": "true"}
    ).json()
    (carol,) = recipients["signers"]
    assert (carol["name"], carol["email"], carol["routingOrder"], carol["clientUserId"]) == (
        "Carol Customer",
        "carol@example.com",
        "2",
        "contact-42",
    )
    assert carol["emailNotification"] == {"emailSubject": "For Carol", "emailBody": "Hi Carol"}
    assert carol["deliveryMethod"] == "email"
    assert carol["additionalNotifications"] == [
        {"secondaryDeliveryMethod": "SMS", "phoneNumber": {"countryCode": "1", "number": "4155550100"}}
    ]
    assert [(t["tabLabel"], t["value"], t["originalValue"]) for t in carol["tabs"]["textTabs"]] == [
        ("deal_title", "Deal 1001", "Untitled"),
        ("amount", "", ""),
    ]
    assert [(c["name"], c["status"]) for c in recipients["carbonCopies"]] == [("Legal Team", "completed")]
    assert [(c["name"], c["status"]) for c in recipients["certifiedDeliveries"]] == [
        ("Fay Finance", "created")
    ]
    assert recipients["recipientCount"] == "3"

    # Routing: Carol and the CC share order 2 (hers given, the CC's its place); the CC completes when
    # reached, with no callback; the certified delivery (order 3) waits for Carol.
    assert [parse(*r).event for r in receiver.received] == ["envelope-sent", "recipient-sent"]
    control.sign(envelope_id, "1")
    after = control.envelope(envelope_id)["recipients"]
    assert after["certifiedDeliveries"][0]["status"] == "sent"
    with pytest.raises(SimulatorControlError) as refused:
        control.decline(envelope_id, "3", "not mine")  # a certified delivery acknowledges, never declines
    assert refused.value.status == 409
    events = [c["event"] for c in control.sign(envelope_id, "3")["callbacks"]]
    assert events == [
        "recipient-delivered",
        "envelope-delivered",
        "recipient-completed",
        "envelope-completed",
    ]
    assert control.envelope(envelope_id)["recipients"]["certifiedDeliveries"][0]["status"] == "completed"


def test_sms_delivery_and_refusals_of_what_docusign_refuses(api: Api, control: SimulatorControl) -> None:
    by_sms = {
        "roleName": "Signer 1",
        "name": "Alice Buyer",
        "deliveryMethod": "SMS",
        "phoneNumber": {"countryCode": "+44", "number": "7700 900123"},
    }
    answer = create(api, {"templateId": "tpl-nda", "status": "sent", "templateRoles": [by_sms, BOB]})
    assert answer.status_code == 201, answer.text  # SMS needs no email
    signer = api.call("GET", f"envelopes/{answer.json()['envelopeId']}/recipients").json()["signers"][0]
    assert (signer["deliveryMethod"], signer["phoneNumber"]) == (
        "SMS",
        {"countryCode": "44", "number": "7700900123"},
    )
    assert "additionalNotifications" not in signer

    def refused(roles: list[dict[str, Any]], **extra: Any) -> tuple[int, str]:
        answer = create(api, {"templateId": "tpl-nda", "status": "sent", "templateRoles": roles, **extra})
        return answer.status_code, answer.json()["errorCode"]

    assert refused([{**by_sms, "phoneNumber": {"countryCode": "1", "number": "12"}}, BOB]) == (
        400,
        "INVALID_PHONE_NUMBER",
    )
    assert refused([{**ALICE, "deliveryMethod": "SMS"}, BOB]) == (400, "INVALID_PHONE_NUMBER")
    assert refused([{**ALICE, "deliveryMethod": "fax"}, BOB]) == (400, "INVALID_REQUEST_PARAMETER")
    assert refused([{**ALICE, "additionalNotifications": [{"secondaryDeliveryMethod": "SMS"}]}, BOB]) == (
        400,
        "INVALID_PHONE_NUMBER",
    )
    assert refused([ALICE, BOB], notification={"expirations": {"expireAfter": "soon"}}) == (
        400,
        "INVALID_REQUEST_PARAMETER",
    )
    assert refused([ALICE]) == (400, "INVALID_EMAIL_ADDRESS_FOR_RECIPIENT")  # Signer 2 left unnamed

    control.register_template("tpl-empty", [], name="No roles")
    control.register_template("tpl-blank", [{"roleName": "Signer"}], documents=[])
    for template_id, role in (("tpl-empty", "x"), ("tpl-blank", "Signer")):
        roles = [{"roleName": role, "name": "Alice Buyer", "email": "alice@example.com"}]
        sent = create(api, {"templateId": template_id, "status": "sent", "templateRoles": roles})
        assert (sent.status_code, sent.json()["errorCode"]) == (400, "ENVELOPE_IS_INCOMPLETE")
    draft = create(api, {"templateId": "tpl-blank", "status": "created", "templateRoles": []})
    documents = api.call("GET", f"envelopes/{draft.json()['envelopeId']}/documents").json()
    assert [d["documentId"] for d in documents["envelopeDocuments"]] == ["certificate"]

    defaults = create(
        api,
        {
            "templateId": "tpl-nda",
            "templateRoles": [ALICE, BOB],
            "notification": {"useAccountDefaults": "true"},
        },
    )
    notification = api.call("GET", f"envelopes/{defaults.json()['envelopeId']}/notification").json()
    assert notification["useAccountDefaults"] == "true"
    assert notification["expirations"]["expireAfter"] == "120"


def test_an_envelope_is_found_again_by_transaction_id_or_custom_field(api: Api) -> None:
    def send(send_id: str, deal: str) -> str:
        return api.create(
            transactionId=send_id,
            customFields={
                "textCustomFields": [
                    {"name": "dealwire_send_id", "value": send_id, "show": "false"},
                    {"name": "dealwire_deal_id", "value": deal},
                ]
            },
        )

    first, second, third = send("send-a", "deal-1"), send("send-b", "deal-1"), send("send-c", "deal-2")
    untracked = api.create()

    def found(**params: str) -> list[str]:
        answer = api.call("GET", "envelopes", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["resultSetSize"] == str(len(body["envelopes"]))
        return [e["envelopeId"] for e in body["envelopes"]]

    assert found(transaction_ids="send-a,send-c") == [first, third]  # no from_date needed
    assert found(transaction_ids="send-b", from_date=a_day_ago()) == [second]
    assert found(transaction_ids="send-zzz") == []
    listed = api.call("GET", "envelopes", params={"transaction_ids": "send-a"}).json()["envelopes"]
    assert listed[0]["transactionId"] == "send-a"
    assert "transactionId" not in api.call("GET", f"envelopes/{untracked}").json()

    since = a_day_ago()
    assert found(custom_field="dealwire_send_id=send-b", from_date=since) == [second]
    assert found(custom_field="dealwire_deal_id=deal-1", from_date=since) == [first, second]
    assert found(custom_field="DEALWIRE_DEAL_ID=deal-2", from_date=since) == [third]  # the name, without case
    assert found(custom_field="dealwire_send_id=%send%", from_date=since) == [first, second, third]
    assert found(custom_field="dealwire_send_id=send-%", from_date=since, status="voided") == []
    assert found(custom_field="dealwire_send_id=send-b", transaction_ids="send-a") == []  # both apply
    no_date = api.call("GET", "envelopes", params={"custom_field": "dealwire_send_id=send-a"})
    assert (no_date.status_code, no_date.json()["errorCode"]) == (400, "INVALID_REQUEST_PARAMETER")
    malformed = api.call("GET", "envelopes", params={"custom_field": "no-value", "from_date": since})
    assert malformed.status_code == 400


def test_a_dropped_response_leaves_the_envelope_created_and_the_client_without_an_answer(
    api: Api, control: SimulatorControl, receiver: Receiver, http: httpx.Client
) -> None:
    control.add_fault("drop_response", method="POST", path_prefix="/restapi/v2.1/accounts/")
    body = {
        "templateId": "tpl-nda",
        "status": "sent",
        "templateRoles": [ALICE, BOB],
        "transactionId": "send-x",
    }
    with pytest.raises(httpx.RemoteProtocolError):
        create(api, body)
    assert control.faults() == []

    (envelope,) = control.envelopes()
    assert (envelope["status"], envelope["transactionId"]) == ("sent", "send-x")
    assert [parse(*r).event for r in receiver.received] == ["envelope-sent", "recipient-sent"]
    retry = api.call("GET", "envelopes", params={"transaction_ids": "send-x"}).json()  # how a retry finds it
    assert [e["envelopeId"] for e in retry["envelopes"]] == [envelope["envelopeId"]]
    assert api.call("GET", "envelopes", params={"from_date": a_day_ago()}).status_code == 200  # answers again


def test_a_draft_opens_in_the_sender_view_and_is_sent_from_it(
    api: Api, control: SimulatorControl, receiver: Receiver, http: httpx.Client, sim: Simulator
) -> None:
    draft = api.create(status="created")
    answer = api.call(
        "POST", f"envelopes/{draft}/views/sender", json={"returnUrl": "https://crm.example/back"}
    )
    assert answer.status_code == 201, answer.text
    (url,) = answer.json().values()
    assert url.startswith(f"{sim.url}/sender/")
    assert "send=1" in urlsplit(url).query
    page = http.get(url)
    assert (page.status_code, page.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert draft in page.text
    assert http.get(url).status_code == 404  # a view URL is good for one use
    assert receiver.received == []

    sent = control.send_draft(draft)
    assert sent["envelope"]["status"] == "sent"
    assert [c["event"] for c in sent["callbacks"]] == ["envelope-sent", "recipient-sent"]

    again = api.call(
        "POST", f"envelopes/{draft}/views/sender", json={"returnUrl": "https://crm.example/back"}
    )
    assert (again.status_code, again.json()["errorCode"]) == (400, "ENVELOPE_INVALID_STATUS")
    other = api.create(status="created")
    no_return = api.call("POST", f"envelopes/{other}/views/sender", json={})
    assert (no_return.status_code, no_return.json()["errorCode"]) == (400, "INVALID_REQUEST_PARAMETER")
    with pytest.raises(SimulatorControlError) as twice:
        control.send_draft(draft)
    assert twice.value.status == 400
