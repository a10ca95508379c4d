"""Automation rules as saved, and what one sends for a deal. Pure."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dealwire.automation.plan import Planned, Refusal, ordered_contacts, plan_send, send_id
from dealwire.automation.rules import RuleDefinition, unknown_fields
from dealwire.contracts.crm import DealStageChanged
from dealwire.docusign.envelopes import TemplateDetail, TemplateDocument, TemplateRole, envelope_body

TEMPLATE = TemplateDetail(
    template_id="tpl-nda",
    name="NDA",
    roles=(
        TemplateRole(role_name="Signer 1", routing_order=1, tab_labels=("deal_title",)),
        TemplateRole(role_name="Signer 2", routing_order=2),
        TemplateRole(role_name="Company", routing_order=3),
        TemplateRole(
            role_name="Legal", kind="carbon_copy", routing_order=4, name="Lea", email="legal@acme.example"
        ),
    ),
    documents=(TemplateDocument(document_id="1", name="NDA.pdf", pages=2),),
)


def rule(**changes: Any) -> RuleDefinition:
    values: dict[str, Any] = {
        "name": "NDA on qualification",
        "pipelineId": "pipeline-1",
        "stageId": "qualified",
        "documentType": "nda",
        "templateId": "tpl-nda",
        "contactRoles": ["Signer 1", "Signer 2"],
        "fixedRecipients": [{"roleName": "Company", "name": "Sam Seller", "email": "sam@acme.example"}],
        "emailSubject": "NDA for {{deal.title}}",
        "emailMessage": "Dear {{person.name}}, {{user.name}} sends the NDA.",
        "fieldMappings": [{"tabLabel": "deal_title", "source": "deal.title"}],
        "reminders": {"delayDays": 2, "frequencyDays": 3},
        "expiration": {"afterDays": 30, "warnDays": 5},
    }
    return RuleDefinition.model_validate({**values, **changes})


def contact(person: str, email: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"personId": person, "name": person.title(), "email": email, **extra}


def stage_event(contacts: list[dict[str, Any]], **changes: Any) -> DealStageChanged:
    values: dict[str, Any] = {
        "tenantId": "acme",
        "dealId": "deal-7",
        "title": "Big Deal",
        "pipelineId": "pipeline-1",
        "toStageId": "qualified",
        "contacts": contacts,
        "userId": "user-1",
        "userName": "Ulla User",
        "updatedAt": "2026-12-02T10:00:00Z",
    }
    return DealStageChanged.model_validate({**values, **changes})


def planned(result: Planned | Refusal) -> Planned:
    assert isinstance(result, Planned), result
    return result


def test_the_primary_contact_signs_first_then_the_deals_order_with_the_companys_signer() -> None:
    event = stage_event([contact("bob", "bob@x.example"), contact("carla", "carla@x.example", primary=True)])
    result = planned(plan_send(rule(), TEMPLATE, event, rule_id="r1", send="s1"))
    request = result.request
    assert [(r.role_name, r.name, r.email, r.routing_order) for r in request.recipients] == [
        ("Signer 1", "Carla", "carla@x.example", 1),
        ("Signer 2", "Bob", "bob@x.example", 2),
        ("Company", "Sam Seller", "sam@acme.example", 3),
    ]
    assert request.email_subject == "NDA for Big Deal"
    assert request.email_blurb == "Dear Carla, Ulla User sends the NDA."
    assert request.recipients[0].tabs == {"deal_title": "Big Deal"}
    assert request.custom_fields == {"dealwire_deal_id": "deal-7", "dealwire_rule_id": "r1"}
    assert result.warnings == ()


def test_the_rest_body_is_docusigns() -> None:
    event = stage_event(
        [contact("carla", "carla@x.example", phone={"countryCode": "49", "number": "15112345678"})]
    )
    request = planned(
        plan_send(rule(delivery={"Signer 1": "sms"}), TEMPLATE, event, rule_id="r1", send="s1")
    ).request
    body = envelope_body(request)
    assert (body["templateId"], body["status"], body["transactionId"]) == ("tpl-nda", "sent", "s1")
    first = body["templateRoles"][0]
    assert (first["roleName"], first["routingOrder"], first["deliveryMethod"]) == ("Signer 1", "1", "SMS")
    assert first["phoneNumber"] == {"countryCode": "49", "number": "15112345678"}
    assert first["tabs"] == {"textTabs": [{"tabLabel": "deal_title", "value": "Big Deal"}]}
    assert body["notification"] == {
        "useAccountDefaults": "false",
        "reminders": {"reminderEnabled": "true", "reminderDelay": "2", "reminderFrequency": "3"},
        "expirations": {"expireEnabled": "true", "expireAfter": "30", "expireWarn": "5"},
    }
    fields = {f["name"]: f["value"] for f in body["customFields"]["textCustomFields"]}
    assert fields == {"dealwire_deal_id": "deal-7", "dealwire_rule_id": "r1", "dealwire_send_id": "s1"}


def test_more_contacts_than_roles_fill_them_and_say_who_was_left_out() -> None:
    event = stage_event([contact(p, f"{p}@x.example") for p in ("ann", "ben", "cid", "dan")])
    result = planned(plan_send(rule(), TEMPLATE, event, rule_id="r1", send="s1"))
    assert [r.name for r in result.request.recipients[:2]] == ["Ann", "Ben"]
    assert result.warnings == ("2 contacts not asked to sign (the roles are full): cid, dan",)


def test_a_contact_the_template_or_rule_already_fixes_is_not_filled_in_again() -> None:
    event = stage_event(
        [
            contact("lea", "Legal@Acme.example"),
            contact("sam", "sam@acme.example"),
            contact("bob", "bob@x.example"),
        ]
    )
    result = planned(plan_send(rule(), TEMPLATE, event, rule_id="r1", send="s1"))
    assert [(r.role_name, r.name) for r in result.request.recipients] == [
        ("Signer 1", "Bob"),
        ("Company", "Sam Seller"),
    ]
    assert result.warnings == ("role Signer 2 left empty: no contact with an email",)


@pytest.mark.parametrize(
    ("template", "the_rule", "contacts", "reason"),
    [
        (
            TEMPLATE.model_copy(update={"roles": ()}),
            rule(),
            [contact("a", "a@x.example")],
            "template_has_no_roles",
        ),
        (
            TEMPLATE.model_copy(update={"documents": ()}),
            rule(),
            [contact("a", "a@x.example")],
            "template_has_no_documents",
        ),
        (TEMPLATE, rule(contactRoles=["Witness"]), [contact("a", "a@x.example")], "role_not_in_template"),
        (TEMPLATE, rule(), [contact("a")], "no_contact_with_email"),
        (TEMPLATE, rule(), [], "no_contact_with_email"),
        (
            TEMPLATE,
            rule(contactRoles=["Signer 1"], delivery={"Signer 1": "sms"}),
            [contact("a", "a@x.example")],
            "no_contact_with_phone",
        ),
        (
            TEMPLATE,
            rule(emailSubject="For {{deal.properties.amount}}"),
            [contact("a", "a@x.example")],
            "merge_field_unresolved",
        ),
        (
            TEMPLATE,
            rule(fieldMappings=[{"tabLabel": "deal_title", "source": "person.properties.vat"}]),
            [contact("a", "a@x.example")],
            "merge_field_unresolved",
        ),
    ],
)
def test_what_cannot_be_sent_is_refused_with_its_reason(
    template: TemplateDetail, the_rule: RuleDefinition, contacts: list[dict[str, Any]], reason: str
) -> None:
    result = plan_send(the_rule, template, stage_event(contacts), rule_id="r1", send="s1")
    assert isinstance(result, Refusal)
    assert result.reason == reason
    assert result.detail


def test_properties_merge_from_the_deal_and_the_primary_contact() -> None:
    event = stage_event(
        [contact("carla", "carla@x.example", primary=True, properties={"vat": "DE123"})],
        properties={"amount": "12,000 EUR"},
    )
    the_rule = rule(
        emailSubject="{{deal.properties.amount}} for {{person.properties.vat}}",
        fieldMappings=[{"tabLabel": "vat_id", "source": "person.properties.vat"}],
    )
    result = planned(plan_send(the_rule, TEMPLATE, event, rule_id="r1", send="s1"))
    assert result.request.email_subject == "12,000 EUR for DE123"
    # No role's template tabs name vat_id: it goes to the first recipient, where DocuSign finds it.
    assert result.request.recipients[0].tabs == {"vat_id": "DE123"}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"emailSubject": "Hi {{deal.nope}}"}, "{{deal.nope}}"),
        ({"contactRoles": ["Signer 1", "Signer 1"]}, "roles named twice"),
        ({"contactRoles": [], "fixedRecipients": []}, "fills no role"),
        ({"delivery": {"Company": "sms"}}, "fixed roles have none"),
        ({"delivery": {"Nobody": "email"}}, "does not fill"),
        ({"expiration": {"afterDays": 5, "warnDays": 5}}, "warnDays"),
        ({"reminders": {"delayDays": 40, "frequencyDays": 1}}, "before the envelope expires"),
        ({"fieldMappings": [{"tabLabel": "x", "source": "deal.secret"}]}, "source"),
        ({"senderUserId": "not-a-guid"}, "senderUserId"),
    ],
)
def test_a_rule_that_could_only_fail_when_it_fires_is_refused_when_saved(
    changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError, match=named.replace("{", r"\{").replace("}", r"\}")):
        rule(**changes)


def test_merge_fields_known_and_unknown() -> None:
    assert (
        unknown_fields("{{ deal.title }} {{user.name}} {{deal.properties.x}} {{person.properties.y}}") == []
    )
    assert unknown_fields("{{deal.owner}} {{person.properties}}") == ["deal.owner", "person.properties"]


def test_a_send_id_is_the_same_for_a_redelivery_and_differs_per_rule_and_change() -> None:
    assert send_id("t", "d", "r", "e1") == send_id("t", "d", "r", "e1")
    assert (
        len({send_id("t", "d", "r", "e1"), send_id("t", "d", "r2", "e1"), send_id("t", "d", "r", "e2")}) == 3
    )


def test_the_primary_contact_comes_first_and_the_others_keep_their_order() -> None:
    event = stage_event(
        [contact("a", "a@x.example"), contact("b", "b@x.example", primary=True), contact("c", "c@x.example")]
    )
    assert [c.person_id for c in ordered_contacts(event.contacts)] == ["b", "a", "c"]
