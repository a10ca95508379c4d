"""What a rule sends for a deal: the template's roles filled from its contacts, merged text, tabs. Pure.

Contacts are asked in the deal's order with the primary contact first. A contact whose
address the template (or the rule) already fixes for a role is not asked again; one who
cannot be reached the way the role is delivered (no email, no phone for SMS) is passed
over. More contacts than roles: the first fill them, and a warning says who was left
out (as HubSpot does). Anything that makes the send impossible is a ``Refusal`` with a
stable reason code, published as ``automation.failed``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from dealwire.automation.rules import MERGE_FIELD
from dealwire.docusign.envelopes import EnvelopeRequest, Notification, Recipient

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dealwire.automation.rules import Expiration, Reminders, RuleDefinition
    from dealwire.contracts.crm import DealContact, DealStageChanged
    from dealwire.docusign.envelopes import TemplateDetail, TemplateRole

RefusalReason = Literal[
    "template_not_found",
    "template_has_no_roles",
    "template_has_no_documents",
    "role_not_in_template",
    "no_contact_with_email",
    "no_contact_with_phone",
    "merge_field_unresolved",
    "sender_not_connected",
    "docusign_refused",
]
DEAL_FIELD: Final = "dealwire_deal_id"
RULE_FIELD: Final = "dealwire_rule_id"


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    detail: str


@dataclass(frozen=True, slots=True)
class Planned:
    request: EnvelopeRequest
    warnings: tuple[str, ...] = ()


@dataclass(slots=True)
class _Context:
    values: dict[str, str] = field(default_factory=dict)

    def render(self, text: str) -> str | Refusal:
        missing = [name for name in MERGE_FIELD.findall(text) if name not in self.values]
        if missing:
            return Refusal(
                "merge_field_unresolved",
                f"the deal has no value for {', '.join('{{' + name + '}}' for name in missing)}",
            )
        return MERGE_FIELD.sub(lambda match: self.values[match[1]], text)


def send_id(tenant_id: str, deal_id: str, rule_id: str, stage_event: str) -> str:
    """One send per (rule, stage change of a deal), whatever delivers the change again."""
    seed = "\n".join((tenant_id, deal_id, rule_id, stage_event))
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def ordered_contacts(contacts: Sequence[DealContact]) -> list[DealContact]:
    """The primary contact first, then the others in the deal's order."""
    return sorted(contacts, key=lambda contact: not contact.primary)


def _context(event: DealStageChanged, person: DealContact | None) -> _Context:
    values = {
        "deal.title": event.title,
        "deal.id": event.deal_id,
        "stage.id": event.to_stage_id,
        "pipeline.id": event.pipeline_id,
        **{f"deal.properties.{name}": value for name, value in event.properties.items()},
    }
    if event.user_name:
        values["user.name"] = event.user_name
    if person is not None:
        values["person.name"] = person.name
        if person.email:
            values["person.email"] = person.email
        if person.phone:
            values["person.phone"] = f"+{person.phone.country_code}{person.phone.number}"
        values.update({f"person.properties.{name}": value for name, value in person.properties.items()})
    return _Context(values)


def plan_send(  # noqa: PLR0911 - one refusal per way a send cannot be made
    rule: RuleDefinition,
    template: TemplateDetail,
    event: DealStageChanged,
    *,
    rule_id: str,
    send: str,
) -> Planned | Refusal:
    """The envelope ``rule`` sends for ``event``'s deal from ``template``, or why it cannot."""
    if not template.roles:
        return Refusal("template_has_no_roles", f"template {template.template_id} has no recipient roles")
    if not template.documents:
        return Refusal("template_has_no_documents", f"template {template.template_id} has no documents")
    roles: Mapping[str, TemplateRole] = {role.role_name: role for role in template.roles}
    unknown = [
        r for r in [*rule.contact_roles, *(f.role_name for f in rule.fixed_recipients)] if r not in roles
    ]
    if unknown:
        return Refusal(
            "role_not_in_template",
            f"template {template.template_id} has no role {', '.join(unknown)}; its roles: "
            f"{', '.join(roles)}",
        )
    taken = {role.email.lower() for role in template.roles if role.email}
    taken |= {recipient.email.lower() for recipient in rule.fixed_recipients}
    waiting = [c for c in ordered_contacts(event.contacts) if not (c.email and c.email.lower() in taken)]
    filled: list[tuple[str, DealContact]] = []
    warnings: list[str] = []
    for role_name in rule.contact_roles:
        sms = rule.delivery.get(role_name) == "sms"
        reachable = next((c for c in waiting if (c.phone if sms else c.email)), None)
        if reachable is None:
            warnings.append(
                f"role {role_name} left empty: no contact {'with a phone' if sms else 'with an email'}"
            )
            continue
        waiting.remove(reachable)
        filled.append((role_name, reachable))
    if rule.contact_roles and not filled:
        sms_only = all(rule.delivery.get(role) == "sms" for role in rule.contact_roles)
        return Refusal(
            "no_contact_with_phone" if sms_only else "no_contact_with_email",
            f"none of the deal's {len(event.contacts)} contacts can be sent the document"
            + (" by SMS (no phone)" if sms_only else " (no email)"),
        )
    left_out = [c.person_id for c in waiting if c.email or c.phone]
    if left_out:
        warnings.append(
            f"{len(left_out)} contacts not asked to sign (the roles are full): {', '.join(left_out)}"
        )
    person = filled[0][1] if filled else None
    context = _context(event, person)
    subject = context.render(rule.email_subject)
    message = context.render(rule.email_message)
    if isinstance(subject, Refusal):
        return subject
    if isinstance(message, Refusal):
        return message
    tab_values: dict[str, str] = {}
    for mapping in rule.field_mappings:
        value = context.values.get(mapping.source)
        if value is None:
            return Refusal(
                "merge_field_unresolved", f"tab {mapping.tab_label}: the deal has no {mapping.source}"
            )
        tab_values[mapping.tab_label] = value
    recipients = [
        _recipient(role_name, contact.name, contact, roles[role_name], rule, tab_values)
        for role_name, contact in filled
    ] + [
        _recipient(
            fixed.role_name, fixed.name, None, roles[fixed.role_name], rule, tab_values, email=fixed.email
        )
        for fixed in rule.fixed_recipients
    ]
    placed = {label for r in recipients for label in r.tabs}
    stray = {label: value for label, value in tab_values.items() if label not in placed}
    if stray and recipients:
        # A tab no role's template tabs name: DocuSign fills it on whichever recipient has it.
        first = recipients[0]
        recipients[0] = first.model_copy(update={"tabs": {**first.tabs, **stray}})
    notification = notification_of(rule.reminders, rule.expiration)
    return Planned(
        EnvelopeRequest(
            template_id=template.template_id,
            recipients=tuple(recipients),
            email_subject=subject[:100],
            email_blurb=message,
            send_id=send,
            custom_fields={DEAL_FIELD: event.deal_id, RULE_FIELD: rule_id},
            notification=notification,
        ),
        tuple(warnings),
    )


def notification_of(reminders: Reminders | None, expiration: Expiration | None) -> Notification | None:
    """DocuSign's notification settings for a send's reminders and expiration (None: the account's)."""
    if reminders is None and expiration is None:
        return None
    return Notification(
        reminder_delay_days=reminders.delay_days if reminders else None,
        reminder_frequency_days=reminders.frequency_days if reminders else None,
        expire_after_days=expiration.after_days if expiration else None,
        expire_warn_days=expiration.warn_days if expiration else None,
    )


def _recipient(  # noqa: PLR0917 - one recipient's every source
    role_name: str,
    name: str,
    contact: DealContact | None,
    role: TemplateRole,
    rule: RuleDefinition,
    tab_values: Mapping[str, str],
    *,
    email: str | None = None,
) -> Recipient:
    sms = rule.delivery.get(role_name) == "sms" and contact is not None and contact.phone is not None
    phone = (contact.phone.country_code, contact.phone.number) if sms and contact and contact.phone else None
    return Recipient(
        role_name=role_name,
        name=name,
        email=email or (contact.email if contact else None),
        routing_order=role.routing_order,
        delivery="sms" if sms else "email",
        phone=phone,
        tabs={label: value for label, value in tab_values.items() if label in role.tab_labels},
    )
