"""stage_trigger against moto and the DocuSign simulator: a stage change sends one envelope, never two.

The simulator's Connect callbacks reach the webhook in-process (the gateway fixture), so
the envelope the trigger records and the callbacks that follow meet in the same table.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dealwire.automation.plan import send_id
from dealwire.automation.rules import RuleDefinition
from dealwire.automation.trigger import StageTrigger
from dealwire.settings import stage_trigger_settings
from dealwire.store.automation import AutomationStore, RuleStore
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.tenants import TenantDirectory
from infra.docusign_sim import SimulatorControl
from infra.local.queues import eventbridge_event
from infra.local.resources import seed_tenant
from tests.docusign_support import USER_ID, envelopes_of_deal, put_app_secret
from tests.infra.test_docusign_sim import Api
from tests.integration.helpers import simulated_access, table
from tests.integration.test_stream_publisher import drain, publish_all, tap
from tests.support import ACCOUNT_ID, HMAC_KEY, TENANT_ID, FakeContext

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.docusign_sim import Simulator
    from infra.local.template import Stack

RULE_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CARLA = {
    "personId": "person-17",
    "name": "Carla Customer",
    "email": "carla@customer.example",
    "primary": True,
}
BOB = {"personId": "person-18", "name": "Bob Buyer", "email": "bob@customer.example"}


def rule_definition(**changes: Any) -> RuleDefinition:
    values: dict[str, Any] = {
        "name": "NDA when qualified",
        "pipelineId": "pipeline-1",
        "stageId": "qualified",
        "documentType": "nda",
        "templateId": "tpl-nda",
        "contactRoles": ["Signer 1", "Signer 2"],
        "emailSubject": "NDA: {{deal.title}}",
        "emailMessage": "Hello {{person.name}}, from {{user.name}}.",
        "fieldMappings": [{"tabLabel": "deal_title", "source": "deal.title"}],
        "reminders": {"delayDays": 2, "frequencyDays": 3},
        "expiration": {"afterDays": 30, "warnDays": 5},
    }
    return RuleDefinition.model_validate({**values, **changes})


def stage_event(
    deal: str = "deal-42", stage: str = "qualified", at: str = "2026-12-02T10:00:00Z", **changes: Any
) -> dict[str, Any]:
    """``deal.stage_changed`` as EventBridge hands it to the function."""
    event_id = changes.pop("event_id", None) or str(uuid4())
    detail = {
        "tenantId": TENANT_ID,
        "dealId": deal,
        "title": "Q3 licences",
        "pipelineId": "pipeline-1",
        "toStageId": stage,
        "contacts": [CARLA, BOB],
        "userId": "user-3",
        "userName": "Ulla User",
        "updatedAt": at,
        **changes,
    }
    body = {
        "id": event_id,
        "source": "crm",
        "detail-type": "deal.stage_changed",
        "time": at,
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }
    return eventbridge_event(json.dumps(body))


class Automation:
    def __init__(self, stack: Stack, sim: Simulator, private_key: rsa.RSAPrivateKey) -> None:
        self.stack = stack
        self.sim = sim
        self.control = SimulatorControl(sim.url)
        self.private_key = private_key
        self.rules = RuleStore(table(stack))
        self.store = AutomationStore(table(stack))

    def add_rule(self, rule_id: str = RULE_ID, **changes: Any) -> str:
        self.rules.create(
            TENANT_ID, rule_id, rule_definition(**changes), by="user-3", at="2026-12-01T00:00:00Z"
        )
        return rule_id

    def fire(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        from stage_trigger import app

        outcomes: list[dict[str, Any]] = app.lambda_handler(event, FakeContext())["outcomes"]
        return outcomes

    def envelopes_of(self, deal: str) -> list[dict[str, Any]]:
        return envelopes_of_deal(self.control, deal)

    def rest(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        with httpx.Client(trust_env=False, timeout=10) as http:
            answer = Api(http, self.sim, self.private_key).call(method, path, **kwargs)
        assert answer.status_code < 300, answer.text
        found: dict[str, Any] = answer.json()
        return found


@pytest.fixture
def automation(
    aws: Stack, sim: Simulator, private_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> Automation:
    from stage_trigger import app

    env = aws.function_environment("StageTriggerFunction")
    put_app_secret(env["DEALWIRE_DOCUSIGN_APP_SECRET"], private_key)
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY], docusign_user_id=USER_ID)
    # DocuSign is the simulator; what the sends spend goes in the tenant's budget, as deployed.
    access = simulated_access(stage_trigger_settings(), sim.url, "send")
    trigger = StageTrigger(
        rules=RuleStore(table(aws)),
        automation=AutomationStore(table(aws)),
        envelopes=EnvelopeStore(table(aws)),
        tenants=TenantDirectory(env["DEALWIRE_TENANT_SECRET_PREFIX"], 0),
        access=access,
    )
    monkeypatch.setattr(app, "trigger", lambda: trigger)
    monkeypatch.setattr(app, "docusign_access", lambda: access)
    return Automation(aws, sim, private_key)


def test_a_stage_change_sends_one_envelope_as_the_rule_says(automation: Automation) -> None:
    automation.add_rule(delivery={"Signer 2": "sms"})
    bob = {**BOB, "phone": {"countryCode": "49", "number": "15112345678"}}
    bus = tap(automation.stack)
    (outcome,) = automation.fire(stage_event(contacts=[bob, CARLA]))
    assert outcome["result"] == "sent", outcome
    envelope_id = outcome["envelopeId"]
    (sent,) = automation.envelopes_of("deal-42")
    assert sent["envelopeId"] == envelope_id
    envelope = automation.rest(
        "GET", f"envelopes/{envelope_id}", params={"include": "recipients,tabs,custom_fields"}
    )
    assert envelope["emailSubject"] == "NDA: Q3 licences"
    assert envelope["emailBlurb"] == "Hello Carla Customer, from Ulla User."
    assert envelope["transactionId"] == send_id(TENANT_ID, "deal-42", RULE_ID, outcome_event_id(automation))
    signers = envelope["recipients"]["signers"]
    assert [(s["roleName"], s["name"], s["routingOrder"]) for s in signers] == [
        ("Signer 1", "Carla Customer", "1"),
        ("Signer 2", "Bob Buyer", "2"),
    ]
    assert signers[1]["deliveryMethod"].lower() == "sms"
    assert signers[1]["phoneNumber"] == {"countryCode": "49", "number": "15112345678"}
    tabs = {t["tabLabel"]: t["value"] for t in signers[0]["tabs"]["textTabs"]}
    assert tabs["deal_title"] == "Q3 licences"
    notification = automation.rest("GET", f"envelopes/{envelope_id}/notification")
    assert notification["reminders"] == {
        "reminderEnabled": "true",
        "reminderDelay": "2",
        "reminderFrequency": "3",
    }
    assert notification["expirations"]["expireAfter"] == "30"
    # Recorded where the tracker, the callbacks and the poller find it.
    stored = EnvelopeStore(table(automation.stack)).envelope(TENANT_ID, envelope_id)
    assert stored is not None
    assert (stored["deal_id"], stored["rule_id"], stored["status"]) == ("deal-42", RULE_ID, "sent")
    publish_all(automation.stack)
    (announced,) = [e for e in drain(bus) if e["detail-type"] == "automation.envelope_sent"]
    assert (announced["detail"]["envelopeId"], announced["detail"]["documentType"]) == (envelope_id, "nda")


def outcome_event_id(automation: Automation) -> str:
    item = automation.store.automation(TENANT_ID, "deal-42", RULE_ID)
    assert item is not None
    return str(item["stage_event"])


def test_the_same_event_again_sends_nothing_more(automation: Automation) -> None:
    automation.add_rule()
    event = stage_event()
    assert automation.fire(event)[0]["result"] == "sent"
    assert automation.fire(event)[0]["result"] == "already_sent"
    assert len(automation.envelopes_of("deal-42")) == 1


def test_a_late_event_changes_nothing(automation: Automation) -> None:
    automation.add_rule()
    assert automation.fire(stage_event(stage="proposal", at="2026-12-02T11:00:00Z")) == []
    assert automation.fire(stage_event(at="2026-12-02T10:00:00Z")) == [
        {"ruleId": "", "result": "stale", "envelopeId": None, "reason": None}
    ]
    assert automation.envelopes_of("deal-42") == []


def test_back_and_forth_sends_once_and_skips_while_the_envelope_is_out(automation: Automation) -> None:
    automation.add_rule()
    bus = tap(automation.stack)
    first = automation.fire(stage_event(at="2026-12-02T10:00:00Z"))[0]
    assert automation.fire(stage_event(stage="proposal", at="2026-12-02T10:00:05Z")) == []
    again = automation.fire(stage_event(at="2026-12-02T10:00:09Z"))[0]
    assert (first["result"], again["result"], again["envelopeId"]) == ("sent", "skipped", first["envelopeId"])
    assert len(automation.envelopes_of("deal-42")) == 1
    publish_all(automation.stack)
    (skipped,) = [e for e in drain(bus) if e["detail-type"] == "automation.skipped"]
    assert skipped["detail"]["activeEnvelopeId"] == first["envelopeId"]


def test_replace_voids_the_active_envelope_then_sends(automation: Automation) -> None:
    automation.add_rule(whenActive="replace")
    first = automation.fire(stage_event(at="2026-12-02T10:00:00Z"))[0]
    automation.fire(stage_event(stage="proposal", at="2026-12-02T10:00:05Z"))
    second = automation.fire(stage_event(at="2026-12-02T10:00:09Z"))[0]
    assert second["result"] == "replaced"
    old, new = automation.envelopes_of("deal-42")
    assert (old["envelopeId"], old["status"]) == (first["envelopeId"], "voided")
    assert (new["envelopeId"], new["status"]) == (second["envelopeId"], "sent")
    assert "Replaced" in automation.control.envelope(first["envelopeId"])["voidedReason"]


def test_once_the_envelope_is_completed_the_rule_may_send_again(automation: Automation) -> None:
    automation.add_rule()
    first = automation.fire(stage_event(at="2026-12-02T10:00:00Z"))[0]
    for recipient in ("1", "2"):
        automation.control.sign(first["envelopeId"], recipient)  # the callbacks record "completed"
    automation.fire(stage_event(stage="proposal", at="2026-12-02T10:00:05Z"))
    assert automation.fire(stage_event(at="2026-12-02T10:00:09Z"))[0]["result"] == "sent"
    assert len(automation.envelopes_of("deal-42")) == 2


def test_a_lost_answer_to_the_create_call_ends_with_one_envelope(automation: Automation) -> None:
    automation.add_rule()
    automation.control.add_fault("drop_response", path_prefix="/restapi/v2.1/accounts", method="POST")
    (outcome,) = automation.fire(stage_event())
    assert outcome["result"] == "sent"
    (only,) = automation.envelopes_of("deal-42")
    assert only["envelopeId"] == outcome["envelopeId"]


def test_a_crash_between_the_intent_and_the_create_or_after_it_ends_with_one_envelope(
    automation: Automation, monkeypatch: pytest.MonkeyPatch
) -> None:
    automation.add_rule()
    event = stage_event()

    def crash(*_: Any, **__: Any) -> None:
        raise RuntimeError("the container died after DocuSign created the envelope")

    from stage_trigger import app

    monkeypatch.setattr(app.trigger()._envelopes, "apply", crash)
    with pytest.raises(RuntimeError, match="container died"):
        automation.fire(event)
    monkeypatch.delattr(app.trigger()._envelopes, "apply")
    assert len(automation.envelopes_of("deal-42")) == 1
    (outcome,) = automation.fire(event)  # EventBridge's redelivery: found by its transactionId
    assert outcome["result"] == "sent"
    assert [e["envelopeId"] for e in automation.envelopes_of("deal-42")] == [outcome["envelopeId"]]


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (lambda a: a.add_rule(templateId="tpl-missing"), "template_not_found"),
        (lambda a: a.add_rule(contactRoles=["Witness"]), "role_not_in_template"),
        (lambda a: a.add_rule(emailSubject="{{deal.properties.amount}}"), "merge_field_unresolved"),
        (
            lambda a: (a.add_rule(), a.control.set_consent(granted=False), a.control.expire_tokens()),
            "sender_not_connected",
        ),
    ],
)
def test_a_send_that_cannot_be_made_is_recorded_and_published(
    automation: Automation, prepare: Any, reason: str
) -> None:
    from dealwire.docusign import client

    client._TOKENS.clear()
    prepare(automation)
    bus = tap(automation.stack)
    (outcome,) = automation.fire(stage_event())
    assert (outcome["result"], outcome["reason"]) == ("failed", reason)
    assert automation.envelopes_of("deal-42") == []
    publish_all(automation.stack)
    (failed,) = [e for e in drain(bus) if e["detail-type"] == "automation.failed"]
    assert failed["detail"]["reason"] == reason
    if reason == "sender_not_connected":
        assert "/oauth/auth?" in failed["detail"]["detail"]


def test_a_deal_without_a_reachable_contact_is_refused(automation: Automation) -> None:
    automation.add_rule()
    (outcome,) = automation.fire(stage_event(contacts=[{"personId": "person-9", "name": "No Mail"}]))
    assert (outcome["result"], outcome["reason"]) == ("failed", "no_contact_with_email")


def test_an_event_of_another_kind_is_refused_by_name(automation: Automation) -> None:
    with pytest.raises(ValueError, match=r"deal\.stage_changed"):
        automation.fire({**stage_event(), "detail-type": "deal.upserted"})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(["qualified", "proposal"]), st.integers(0, 5), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_any_order_and_duplication_of_stage_events_sends_at_most_one(
    automation: Automation, changes: list[tuple[str, int, bool]], shuffle: Any
) -> None:
    """The deal's changes (stage, minute) delivered shuffled, some twice: at most one envelope,
    and one whenever the newest change is into the rule's stage."""
    if not automation.rules.rules(TENANT_ID):
        automation.add_rule()
    deal = f"deal-{uuid4().hex[:8]}"
    unique = {minute: stage for stage, minute, _ in changes}
    events = [
        stage_event(deal, stage, f"2026-12-02T10:0{minute}:00Z") for minute, stage in sorted(unique.items())
    ]
    deliveries = events + [events[i] for i, (_, _, twice) in enumerate(changes[: len(events)]) if twice]
    shuffle.shuffle(deliveries)
    for event in deliveries:
        automation.fire(event)
    sent = automation.envelopes_of(deal)
    assert len(sent) <= 1
    newest = unique[max(unique)]
    if newest == "qualified":
        assert len(sent) == 1
