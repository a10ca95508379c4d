"""DocuSign's own Python SDK (docusign-esign) against the simulator: its models read every answer.

Each answer's JSON is also held to the SDK's models key by key: a field the simulator names
differently from DocuSign (``authoritative`` for ``authoritativeCopy``) would be dropped by
the SDK without a word, so every key must be one the model knows, at every depth.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import urllib3
from cryptography.hazmat.primitives import serialization
from docusign_esign import (
    ApiClient,
    ApiException,
    ConnectApi,
    ConnectCustomConfiguration,
    ConnectEventData,
    ConnectFailureFilter,
    CustomFields,
    Envelope,
    EnvelopeDefinition,
    EnvelopesApi,
    EnvelopeViewRequest,
    Expirations,
    Notification,
    RecipientAdditionalNotification,
    RecipientPhoneNumber,
    Reminders,
    Tabs,
    TemplateRole,
    TemplatesApi,
    Text,
    TextCustomField,
    models,
)
from docusign_esign.client.auth import oauth

from infra.docusign_sim import Simulator, SimulatorControl
from tests.docusign_support import INTEGRATION_KEY, USER_ID, closed_port_url, new_private_key, simulator
from tests.infra.test_docusign_sim import Receiver

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cryptography.hazmat.primitives.asymmetric import rsa

ACCOUNT_ID = "9f1c2a7e-3b4d-4c5e-8f6a-1b2c3d4e5f60"
PRIMITIVES = {"str", "int", "bool", "float", "object", "date", "datetime"}


class LoopbackPool(urllib3.PoolManager):
    """The SDK's connection pool, with its hard-coded ``https://`` OAuth host sent to the
    simulator's plain HTTP; every answer is kept, so its raw JSON can be checked."""

    def __init__(self, host: str) -> None:
        super().__init__(num_pools=2)
        self.simulated_host = host
        self.answers: list[urllib3.BaseHTTPResponse] = []

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> urllib3.BaseHTTPResponse:
        url = re.sub(rf"^https://{re.escape(self.simulated_host)}/", f"http://{self.simulated_host}/", url)
        assert url.startswith(f"http://{self.simulated_host}/"), url  # loopback only
        answer = super().urlopen(method, url, redirect=redirect, **kw)
        self.answers.append(answer)
        return answer

    def last_json(self) -> Any:
        return json.loads(self.answers[-1].data)


def unknown_keys(data: Any, kind: str, path: str = "$") -> list[str]:
    """Keys of ``data`` that the SDK's model ``kind`` (and its nested models) has no field for."""
    if data is None or kind in PRIMITIVES:
        return []
    if found := re.fullmatch(r"list\[(.*)\]", kind):
        return [key for i, item in enumerate(data) for key in unknown_keys(item, found[1], f"{path}[{i}]")]
    if found := re.fullmatch(r"dict\(([^,]*), (.*)\)", kind):
        return [key for name, item in data.items() for key in unknown_keys(item, found[2], f"{path}.{name}")]
    model = (getattr(models, kind, None) or getattr(oauth, kind))()
    fields = {json_name: attribute for attribute, json_name in model.attribute_map.items()}
    missing = []
    for name, item in data.items():
        if name not in fields:
            missing.append(f"{path}.{name} (not in {kind})")
        else:
            missing += unknown_keys(item, model.swagger_types[fields[name]], f"{path}.{name}")
    return missing


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_private_key()


@pytest.fixture
def sim(key: rsa.RSAPrivateKey) -> Iterator[Simulator]:
    with simulator(key) as started:
        yield started


@pytest.fixture
def pool(sim: Simulator) -> LoopbackPool:
    return LoopbackPool(f"127.0.0.1:{sim.port}")


@pytest.fixture
def api_client(sim: Simulator, pool: LoopbackPool) -> ApiClient:
    client = ApiClient(host=f"{sim.url}/restapi", oauth_host_name=f"127.0.0.1:{sim.port}")
    client.rest_client.pool_manager = pool
    return client


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def sign_in(api_client: ApiClient, pool: LoopbackPool, key: rsa.RSAPrivateKey) -> str:
    """The SDK's JWT grant with its default scopes (signature only), then the user's base URI."""
    token = api_client.request_jwt_user_token(
        client_id=INTEGRATION_KEY,
        user_id=USER_ID,
        oauth_host_name=api_client.oauth_host_name,
        private_key_bytes=private_pem(key),
        expires_in=3600,
    )
    assert unknown_keys(pool.last_json(), "OAuthToken") == []
    assert (token.token_type, int(token.expires_in)) == ("Bearer", 3600)  # the SDK reads it as a str
    info = api_client.get_user_info(token.access_token)
    assert unknown_keys(pool.last_json(), "OAuthUserInfo") == []
    (account,) = info.accounts
    assert (info.sub, account.account_id, account.is_default.lower()) == (USER_ID, ACCOUNT_ID, "true")
    base_uri: str = account.base_uri
    return base_uri


def envelope_from_template(subject: str) -> EnvelopeDefinition:
    return EnvelopeDefinition(
        template_id="tpl-nda",
        status="sent",
        email_subject=subject,
        template_roles=[
            TemplateRole(role_name="Signer 1", name="Alice Buyer", email="alice@example.com"),
            TemplateRole(role_name="Signer 2", name="Bob Seller", email="bob@example.com", routing_order="2"),
        ],
        custom_fields=CustomFields(
            text_custom_fields=[TextCustomField(name="dealwire_deal_id", value="deal-1001", show="false")]
        ),
    )


def test_the_sdk_sends_signs_lists_downloads_and_voids_against_the_simulator(
    sim: Simulator, api_client: ApiClient, pool: LoopbackPool, key: rsa.RSAPrivateKey
) -> None:
    base_uri = sign_in(api_client, pool, key)
    api_client.host = f"{base_uri}/restapi"
    envelopes = EnvelopesApi(api_client)
    since = datetime.now(UTC) - timedelta(days=1)

    created = envelopes.create_envelope(ACCOUNT_ID, envelope_definition=envelope_from_template("Deal 1001"))
    assert unknown_keys(pool.last_json(), "EnvelopeSummary") == []
    assert created.status == "sent"
    SimulatorControl(sim.url).sign(created.envelope_id, "1")

    envelope = envelopes.get_envelope(
        ACCOUNT_ID, created.envelope_id, include="recipients,custom_fields,documents"
    )
    assert unknown_keys(pool.last_json(), "Envelope") == []
    assert envelope.status == "sent"
    signers = envelope.recipients.signers
    assert [(s.email, s.routing_order, s.status) for s in signers] == [
        ("alice@example.com", "1", "completed"),
        ("bob@example.com", "2", "sent"),
    ]
    assert signers[0].signed_date_time is not None
    assert envelope.recipients.current_routing_order == "2"
    assert [(f.name, f.value) for f in envelope.custom_fields.text_custom_fields] == [
        ("dealwire_deal_id", "deal-1001")
    ]
    assert [(d.document_id, d.type, d.authoritative_copy) for d in envelope.envelope_documents] == [
        ("1", "content", "false"),
        ("certificate", "summary", "false"),
    ]
    assert envelope.sender.email == sim.config.user_email

    for from_date in (since.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), since.strftime("%Y/%m/%d")):
        changed = envelopes.list_status_changes(ACCOUNT_ID, from_date=from_date, include="recipients")
        assert unknown_keys(pool.last_json(), "EnvelopesInformation") == []
        assert [e.envelope_id for e in changed.envelopes] == [created.envelope_id]
        assert changed.total_set_size == "1"
        assert changed.envelopes[0].recipients.signers[0].status == "completed"
    chosen = envelopes.list_status_changes(ACCOUNT_ID, envelope_ids=created.envelope_id, status="sent")
    assert [e.status for e in chosen.envelopes] == ["sent"]

    listed = envelopes.list_documents(ACCOUNT_ID, created.envelope_id)
    assert unknown_keys(pool.last_json(), "EnvelopeDocumentsResult") == []
    assert {d.document_id: d.authoritative_copy for d in listed.envelope_documents} == {
        "1": "false",
        "certificate": "false",
    }
    recipients = envelopes.list_recipients(ACCOUNT_ID, created.envelope_id)
    assert unknown_keys(pool.last_json(), "Recipients") == []
    assert recipients.recipient_count == "2"

    combined = envelopes.get_document(ACCOUNT_ID, "combined", created.envelope_id, certificate="false")
    certificate = envelopes.get_document(ACCOUNT_ID, "certificate", created.envelope_id)
    assert combined == sim.document_bytes(created.envelope_id, "combined", certificate=False)
    assert certificate == sim.document_bytes(created.envelope_id, "certificate")
    assert pool.answers[-1].headers["Content-Type"] == "application/pdf"

    voided = envelopes.update(
        ACCOUNT_ID, created.envelope_id, envelope=Envelope(status="voided", voided_reason="Wrong price")
    )
    assert unknown_keys(pool.last_json(), "EnvelopeUpdateSummary") == []
    assert voided.envelope_id == created.envelope_id
    after = envelopes.get_envelope(ACCOUNT_ID, created.envelope_id)
    assert (after.status, after.voided_reason) == ("voided", "Wrong price")
    limits = pool.answers[-1].headers
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(limits)
    assert {"X-BurstLimit-Limit", "X-BurstLimit-Remaining"} <= set(limits)


def test_the_sdk_reads_docusigns_refusals(
    sim: Simulator, api_client: ApiClient, pool: LoopbackPool, key: rsa.RSAPrivateKey
) -> None:
    control = SimulatorControl(sim.url)
    control.set_consent(granted=False)
    with pytest.raises(ApiException) as refused:
        sign_in(api_client, pool, key)
    assert (refused.value.status, json.loads(refused.value.body)) == (400, {"error": "consent_required"})
    control.set_consent(granted=True)

    api_client.host = f"{sign_in(api_client, pool, key)}/restapi"
    envelopes = EnvelopesApi(api_client)
    with pytest.raises(ApiException) as missing:
        envelopes.get_envelope(ACCOUNT_ID, "00000000-0000-0000-0000-000000000000")
    error = json.loads(missing.value.body)
    assert unknown_keys(error, "ErrorDetails") == []
    assert (missing.value.status, error["errorCode"]) == (404, "ENVELOPE_DOES_NOT_EXIST")

    control.configure(rateLimitStatus=429)
    control.add_fault("hourly_limit")
    with pytest.raises(ApiException) as limited:
        envelopes.list_status_changes(ACCOUNT_ID, from_date="2024-01-01")
    assert (limited.value.status, json.loads(limited.value.body)["errorCode"]) == (
        429,
        "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
    )
    assert limited.value.response.getheader("X-RateLimit-Remaining") == "0"


def test_the_sdk_manages_connect_configurations_and_reads_the_failure_log(
    sim: Simulator, api_client: ApiClient, pool: LoopbackPool, key: rsa.RSAPrivateKey
) -> None:
    api_client.host = f"{sign_in(api_client, pool, key)}/restapi"
    connect = ConnectApi(api_client)
    unreachable = closed_port_url()
    created = connect.create_configuration(
        ACCOUNT_ID,
        connect_custom_configuration=ConnectCustomConfiguration(
            configuration_type="custom",
            url_to_publish_to=unreachable,
            name="dealwire",
            allow_envelope_publish="true",
            enable_log="true",
            include_hmac="true",
            requires_acknowledgement="true",
            all_users="true",
            delivery_mode="SIM",
            events=["envelope-sent", "envelope-completed"],
            event_data=ConnectEventData(version="restv2.1", format="json", include_data=["recipients"]),
        ),
    )
    assert unknown_keys(pool.last_json(), "ConnectCustomConfiguration") == []
    assert pool.answers[-1].status == 201
    assert created.connect_id.isdigit()
    assert (created.event_data.format, created.event_data.include_data) == ("json", ["recipients"])

    listed = connect.list_configurations(ACCOUNT_ID)
    assert unknown_keys(pool.last_json(), "ConnectConfigResults") == []
    assert ([c.connect_id for c in listed.configurations], listed.total_records) == (
        [created.connect_id],
        "1",
    )
    got = connect.get_configuration(ACCOUNT_ID, created.connect_id)
    assert unknown_keys(pool.last_json(), "ConnectConfigResults") == []
    assert got.configurations[0].url_to_publish_to == unreachable

    updated = connect.update_configuration(
        ACCOUNT_ID,
        connect_custom_configuration=ConnectCustomConfiguration(
            connect_id=created.connect_id, name="renamed"
        ),
    )
    assert unknown_keys(pool.last_json(), "ConnectCustomConfiguration") == []
    assert (updated.name, updated.events) == ("renamed", ["envelope-sent", "envelope-completed"])

    envelope = EnvelopesApi(api_client).create_envelope(
        ACCOUNT_ID, envelope_definition=envelope_from_template("Deal 1001")
    )
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    failures = connect.list_event_failure_logs(ACCOUNT_ID, from_date=since)
    assert unknown_keys(pool.last_json(), "ConnectLogs") == []
    (failure,) = failures.failures
    assert (failure.envelope_id, failure.connect_id, failure.config_url, failure.status) == (
        envelope.envelope_id,
        created.connect_id,
        unreachable,
        "Sent",
    )
    assert (failure.retry_count, failure.error) == ("0", "Unable to connect to the remote server")
    connect.delete_event_failure_log(ACCOUNT_ID, failure.failure_id)
    assert unknown_keys(pool.last_json(), "ConnectDeleteFailureResult") == []
    assert connect.list_event_failure_logs(ACCOUNT_ID).total_records == "0"

    connect.delete_configuration(ACCOUNT_ID, created.connect_id)
    assert pool.answers[-1].status == 200
    assert connect.list_configurations(ACCOUNT_ID).total_records == "0"
    with pytest.raises(ApiException) as missing:
        connect.get_configuration(ACCOUNT_ID, created.connect_id)
    error = json.loads(missing.value.body)
    assert unknown_keys(error, "ErrorDetails") == []
    assert (missing.value.status, error["errorCode"]) == (404, "CONNECT_CONFIGURATION_NOT_FOUND")


def test_the_sdk_reads_templates_sends_from_one_in_full_and_finds_the_send_again(
    sim: Simulator, api_client: ApiClient, pool: LoopbackPool, key: rsa.RSAPrivateKey
) -> None:
    api_client.host = f"{sign_in(api_client, pool, key)}/restapi"
    SimulatorControl(sim.url).register_template(
        "tpl-sales",
        [
            {"roleName": "Customer", "tabs": [{"tabLabel": "deal_title"}]},
            {"roleName": "Legal", "type": "carboncopy", "name": "Legal Team", "email": "legal@example.com"},
            {"roleName": "Finance", "type": "certifieddelivery"},
        ],
        name="Sales order",
    )
    templates = TemplatesApi(api_client)
    listed = templates.list_templates(ACCOUNT_ID, search_text="sales", count="10", start_position="0")
    assert unknown_keys(pool.last_json(), "EnvelopeTemplateResults") == []
    assert ([t.template_id for t in listed.envelope_templates], listed.total_set_size) == (["tpl-sales"], "1")
    template = templates.get(ACCOUNT_ID, "tpl-sales")
    assert unknown_keys(pool.last_json(), "EnvelopeTemplate") == []
    assert template.recipients.signers[0].tabs.text_tabs[0].tab_label == "deal_title"
    assert template.recipients.carbon_copies[0].email == "legal@example.com"
    assert template.recipients.certified_deliveries[0].role_name == "Finance"
    assert [d.name for d in template.documents] == ["tpl-sales.pdf"]
    with pytest.raises(ApiException) as missing:
        templates.get(ACCOUNT_ID, "tpl-missing")
    assert json.loads(missing.value.body)["errorCode"] == "TEMPLATE_ID_INVALID"

    envelopes = EnvelopesApi(api_client)
    definition = EnvelopeDefinition(
        template_id="tpl-sales",
        status="created",
        email_subject="Deal 1001: order form",
        email_blurb="Please sign.",
        transaction_id="send-deal1001-rule7",
        custom_fields=CustomFields(
            text_custom_fields=[TextCustomField(name="dealwire_send_id", value="send-deal1001-rule7")]
        ),
        notification=Notification(
            use_account_defaults="false",
            reminders=Reminders(reminder_enabled="true", reminder_delay="2", reminder_frequency="3"),
            expirations=Expirations(expire_enabled="true", expire_after="30", expire_warn="5"),
        ),
        template_roles=[
            TemplateRole(
                role_name="Customer",
                name="Carol Customer",
                email="carol@example.com",
                routing_order="1",
                client_user_id="contact-42",
                tabs=Tabs(text_tabs=[Text(tab_label="deal_title", value="Deal 1001")]),
                additional_notifications=[
                    RecipientAdditionalNotification(
                        secondary_delivery_method="SMS",
                        phone_number=RecipientPhoneNumber(country_code="1", number="4155550100"),
                    )
                ],
            ),
            TemplateRole(role_name="Finance", name="Fay Finance", email="fay@example.com"),
        ],
    )
    created = envelopes.create_envelope(ACCOUNT_ID, envelope_definition=definition)
    assert unknown_keys(pool.last_json(), "EnvelopeSummary") == []
    envelope = envelopes.get_envelope(
        ACCOUNT_ID, created.envelope_id, include="recipients,tabs,custom_fields"
    )
    assert unknown_keys(pool.last_json(), "Envelope") == []
    assert (envelope.transaction_id, envelope.email_blurb, envelope.expire_after) == (
        "send-deal1001-rule7",
        "Please sign.",
        "30",
    )
    carol = envelope.recipients.signers[0]
    assert (carol.client_user_id, carol.tabs.text_tabs[0].value) == ("contact-42", "Deal 1001")
    assert carol.additional_notifications[0].phone_number.number == "4155550100"
    recipients = envelopes.list_recipients(ACCOUNT_ID, created.envelope_id, include_tabs="true")
    assert unknown_keys(pool.last_json(), "Recipients") == []
    assert recipients.certified_deliveries[0].name == "Fay Finance"
    notification = envelopes.get_notification_settings(ACCOUNT_ID, created.envelope_id)
    assert unknown_keys(pool.last_json(), "Notification") == []
    assert (notification.reminders.reminder_frequency, notification.expirations.expire_warn) == ("3", "5")

    by_transaction = envelopes.list_status_changes(ACCOUNT_ID, transaction_ids="send-deal1001-rule7")
    assert unknown_keys(pool.last_json(), "EnvelopesInformation") == []
    assert [e.envelope_id for e in by_transaction.envelopes] == [created.envelope_id]
    assert by_transaction.envelopes[0].transaction_id == "send-deal1001-rule7"
    by_field = envelopes.list_status_changes(
        ACCOUNT_ID,
        custom_field="dealwire_send_id=send-deal1001-rule7",
        from_date=(datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d"),
    )
    assert [e.envelope_id for e in by_field.envelopes] == [created.envelope_id]

    view = envelopes.create_sender_view(
        ACCOUNT_ID,
        created.envelope_id,
        envelope_view_request=EnvelopeViewRequest(return_url="https://crm.example/back"),
    )
    assert unknown_keys(pool.last_json(), "ViewUrl") == []
    assert pool.answers[-1].status == 201
    assert view.url.startswith(f"{sim.url}/sender/")


def test_the_sdk_republishes_envelopes_from_the_retry_queue(
    sim: Simulator, api_client: ApiClient, pool: LoopbackPool, key: rsa.RSAPrivateKey
) -> None:
    api_client.host = f"{sign_in(api_client, pool, key)}/restapi"
    listener = Receiver()
    try:
        listener.status = 503
        connect = ConnectApi(api_client)
        created = connect.create_configuration(
            ACCOUNT_ID,
            connect_custom_configuration=ConnectCustomConfiguration(
                configuration_type="custom",
                url_to_publish_to=listener.url,
                allow_envelope_publish="true",
                all_users="true",
                delivery_mode="SIM",
                events=["envelope-sent", "recipient-sent", "envelope-voided"],
                event_data=ConnectEventData(version="restv2.1", format="json", include_data=["recipients"]),
            ),
        )
        envelopes = EnvelopesApi(api_client)
        first, second = (
            envelopes.create_envelope(
                ACCOUNT_ID, envelope_definition=envelope_from_template(subject)
            ).envelope_id
            for subject in ("Deal 1001", "Deal 1002")
        )
        assert {f.envelope_id for f in connect.list_event_failure_logs(ACCOUNT_ID).failures} == {
            first,
            second,
        }
        listener.status = 200

        one = connect.retry_event_for_envelope(ACCOUNT_ID, first)
        assert unknown_keys(pool.last_json(), "ConnectFailureResults") == []
        assert [(r.envelope_id, r.status, r.config_id, r.config_url) for r in one.retry_queue] == [
            (first, "Sent", created.connect_id, listener.url)
        ]
        assert {f.envelope_id for f in connect.list_event_failure_logs(ACCOUNT_ID).failures} == {second}

        envelopes.update(ACCOUNT_ID, second, envelope=Envelope(status="voided", voided_reason="Lost"))
        both = connect.retry_event_for_envelopes(
            ACCOUNT_ID, connect_failure_filter=ConnectFailureFilter(envelope_ids=[first, second])
        )
        assert unknown_keys(pool.last_json(), "ConnectFailureResults") == []
        assert [(r.envelope_id, r.status) for r in both.retry_queue] == [(first, "Sent"), (second, "Sent")]
        assert json.loads(listener.received[-1][1])["event"] == "envelope-voided"  # the state of now
        assert connect.list_event_failure_logs(ACCOUNT_ID).total_records == "0"

        with pytest.raises(ApiException) as missing:
            connect.retry_event_for_envelope(ACCOUNT_ID, "00000000-0000-0000-0000-000000000000")
        error = json.loads(missing.value.body)
        assert unknown_keys(error, "ErrorDetails") == []
        assert (missing.value.status, error["errorCode"]) == (404, "ENVELOPE_DOES_NOT_EXIST")
    finally:
        listener.close()
