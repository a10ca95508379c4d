"""The kinds of item dealwire keeps; ``store.table`` knows their keys, the rest only their kind."""

from __future__ import annotations

from enum import StrEnum


class ItemKind(StrEnum):
    ENVELOPE = "envelope"
    RECIPIENT = "recipient"
    THREAD = "thread"
    MESSAGE = "message"
    MESSAGE_ID = "message_id"
    SUBJECT = "subject_fallback"
    CONTACT_THREAD = "contact_thread"
    REJECTION = "rejection"
    USER = "user"
    CONTACT = "contact_address"
    PERSON = "person"
    PERSON_DEALS = "person_open_deals"
    DEAL = "deal"
    INTEGRATION = "docusign_integration"
    CONSENT_STATE = "consent_state"
    RULE = "automation_rule"
    DEAL_STAGE = "deal_stage"
    AUTOMATION = "deal_automation"
    IDEMPOTENCY = "idempotency_record"
    POLL_STATE = "poll_state"
    API_BUDGET = "api_budget"
