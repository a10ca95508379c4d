"""The Connect configuration dealwire needs on an account, which one is dealwire's, and how one differs.

Pure: DocuSign is asked elsewhere. The configuration sends each event as it happens
(SIM), as JSON with the envelope's recipients and custom fields (the deal id travels in
one), HMAC-signed, retried by DocuSign until acknowledged; documents stay out of the
message (the document job fetches them), so a callback stays small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from dealwire.contracts.integrations import Finding, Severity
from dealwire.docusign.connect_admin import ConnectConfiguration, EventData

if TYPE_CHECKING:
    from collections.abc import Iterable

CONFIGURATION_NAME: Final = "dealwire"
# Every event the webhook reads (domain.status), and none it would only refuse.
CONNECT_EVENTS: Final = (
    "envelope-sent",
    "envelope-resent",
    "envelope-delivered",
    "envelope-completed",
    "envelope-declined",
    "envelope-voided",
    "envelope-deleted",
    "recipient-sent",
    "recipient-resent",
    "recipient-autoresponded",
    "recipient-delivered",
    "recipient-completed",
    "recipient-declined",
)
INCLUDED_DATA: Final = ("recipients", "custom_fields")


def webhook_url(base_url: str, tenant_id: str) -> str:
    """Where the tenant's callbacks go: the tenant is in the path, so the webhook knows whose keys to use."""
    return f"{base_url.rstrip('/')}/webhooks/docusign/{tenant_id}"


def desired(url: str, existing: ConnectConfiguration | None = None) -> ConnectConfiguration:
    """The configuration dealwire needs; an existing one keeps its id and what dealwire does not set."""
    wanted = {
        "name": CONFIGURATION_NAME,
        "configuration_type": "custom",
        "url_to_publish_to": url,
        "allow_envelope_publish": "true",
        "all_users": "true",
        "enable_log": "true",
        "requires_acknowledgement": "true",
        "include_hmac": "true",
        "delivery_mode": "SIM",
        "events": list(CONNECT_EVENTS),
        "event_data": EventData(version="restv2.1", format="json", include_data=list(INCLUDED_DATA)),
        "include_documents": "false",
        "include_certificate_of_completion": "false",
        "include_envelope_void_reason": "true",
        "include_time_zone_information": "true",
        "disabled_by": None,
        "pause_publish": None,
    }
    if existing is None:
        return ConnectConfiguration(**wanted)
    return existing.model_copy(update=wanted)


def ours(
    configurations: Iterable[ConnectConfiguration], connect_id: str | None, url: str
) -> ConnectConfiguration | None:
    """dealwire's configuration: the one it recorded, else one named ``dealwire`` or sending to its URL."""
    listed = list(configurations)
    recorded = next((c for c in listed if connect_id and c.connect_id == connect_id), None)
    if recorded is not None:
        return recorded
    named = [c for c in listed if c.name == CONFIGURATION_NAME]
    return next((c for c in named if c.url_to_publish_to == url), None) or next(
        iter(named or [c for c in listed if c.url_to_publish_to == url]), None
    )


def differences(configuration: ConnectConfiguration, url: str) -> list[Finding]:
    """What in ``configuration`` keeps callbacks from reaching dealwire as it reads them."""
    fix = "connect again (POST /v1/integrations/docusign, then .../complete): it rewrites the configuration"
    found: list[Finding] = []

    def differs(code: str, message: str, severity: Severity = "error") -> None:
        found.append(Finding(code=code, severity=severity, message=message, action=fix))

    if not configuration.enabled:
        by = f" by {configuration.disabled_by}" if configuration.disabled_by else ""
        differs(
            "connect_configuration_disabled",
            f"the Connect configuration is disabled{by}: DocuSign sends no callbacks "
            "(DocuSign disables one whose listener kept failing)",
        )
    if configuration.url_to_publish_to != url:
        differs(
            "connect_url_differs",
            f"callbacks go to {configuration.url_to_publish_to or 'nowhere'}, not to {url}",
        )
    if configuration.include_hmac.lower() != "true":
        differs("connect_hmac_off", "callbacks are not HMAC-signed: the webhook refuses every one")
    if configuration.event_data.format.lower() != "json":
        differs(
            "connect_format_differs",
            f"callbacks are {configuration.event_data.format or 'legacy XML'}, not JSON; dealwire reads "
            "both, but XML names recipients by GUID and carries less",
            "warning",
        )
    missing_data = [name for name in INCLUDED_DATA if name not in configuration.event_data.include_data]
    if missing_data:
        differs(
            "connect_data_missing",
            f"callbacks leave out {', '.join(missing_data)}: the tracker loses recipients or the deal id",
        )
    missing = [event for event in CONNECT_EVENTS if event not in configuration.events]
    if missing:
        differs(
            "connect_events_missing",
            f"DocuSign does not send {', '.join(missing)}: those changes reach dealwire only by polling",
        )
    if configuration.delivery_mode.upper() != "SIM":
        differs(
            "connect_aggregate_mode",
            "the configuration sends aggregate messages: events that happen together are merged",
            "warning",
        )
    if configuration.requires_acknowledgement.lower() != "true":
        differs(
            "connect_retries_off",
            "DocuSign does not retry a callback that failed: a lost one is found only by polling",
            "warning",
        )
    if configuration.include_documents.lower() == "true":
        differs(
            "connect_documents_included",
            "callbacks carry the documents: a large envelope's message can pass the webhook's body limit",
            "warning",
        )
    return found
