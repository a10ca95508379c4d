"""Connecting a tenant to DocuSign through the integrations function, against moto and the simulator.

The simulator starts as a fresh DocuSign account: no Connect configuration, no HMAC key.
Everything dealwire needs there it creates through DocuSign's API; its callbacks then reach
the webhook in-process (through the gateway), signed with the keys DocuSign generated.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest

from dealwire.integration.connection import DocuSignConnection
from dealwire.settings import integrations_settings
from dealwire.store.docusign_app import DocuSignAccess
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.integrations import IntegrationStore
from dealwire.store.polling import PollState, PollStateStore
from dealwire.store.tenant_secrets import TenantSecrets
from infra.docusign_sim import SimulatorControl
from infra.local.queues import eventbridge_event
from tests.docusign_support import INTEGRATION_KEY, USER_ID, put_app_secret, simulator
from tests.infra.test_docusign_sim import Api
from tests.integration.api_support import SAM, ULLA, call
from tests.integration.helpers import RequestLog, table
from tests.integration.test_stream_publisher import drain, publish_all, tap
from tests.mail_support import seed_crm
from tests.support import ACCOUNT_ID, TENANT_ID, FakeContext

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cryptography.hazmat.primitives.asymmetric import rsa

    from dealwire.domain.tracker import Tracker
    from infra.docusign_sim import Simulator
    from infra.local.gateway import Gateway
    from infra.local.template import Stack

ADMIN = {**ULLA, "dealwire:role": "admin"}
REDIRECT_URI = "https://crm.example.com/settings/docusign"
ROUTE = "/v1/integrations/docusign"


def integrations(
    method: str, path: str = ROUTE, body: Any = None, claims: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    answer = call(method, path, body=body, claims=claims or ADMIN, function="integrations")
    return answer["statusCode"], json.loads(answer["body"]) if answer["body"] else {}


def secret(stack: Stack) -> dict[str, Any]:
    prefix = stack.function_environment("IntegrationsFunction")["DEALWIRE_TENANT_SECRET_PREFIX"]
    raw = boto3.client("secretsmanager").get_secret_value(SecretId=prefix + TENANT_ID)["SecretString"]
    document: dict[str, Any] = json.loads(raw)
    return document


class Connecting:
    """A fresh DocuSign account in the simulator, and the integrations function pointed at it."""

    def __init__(self, stack: Stack, sim: Simulator, private_key: rsa.RSAPrivateKey) -> None:
        self.stack = stack
        self.sim = sim
        self.control = SimulatorControl(sim.url)
        self.private_key = private_key

    def consent(self) -> dict[str, Any]:
        """What an admin does: start, open DocuSign's page, come back with the state."""
        status, started = integrations("POST")
        assert status == 200, started
        answer = httpx.get(started["consentUrl"], follow_redirects=False, trust_env=False, timeout=10)
        assert answer.status_code == 302, answer.text
        back = urlsplit(answer.headers["location"])
        assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
        assert parse_qs(back.query)["state"] == [started["state"]]
        return started

    def connect(self) -> dict[str, Any]:
        started = self.consent()
        status, health = integrations(
            "POST", f"{ROUTE}/complete", {"state": started["state"], "userId": USER_ID}
        )
        assert status == 200, health
        return health

    def rest(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """DocuSign's REST API for the account, as any integration calls it."""
        with httpx.Client(trust_env=False, timeout=10) as http:
            return Api(http, self.sim, self.private_key).call(method, path, **kwargs)

    def send_envelope(self) -> str:
        with httpx.Client(trust_env=False, timeout=10) as http:
            return Api(http, self.sim, self.private_key).create()


@pytest.fixture
def connecting(
    aws: Stack, gateway: Gateway, private_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Connecting]:
    from integrations import app

    env = aws.function_environment("IntegrationsFunction")
    put_app_secret(env["DEALWIRE_DOCUSIGN_APP_SECRET"], private_key)
    # The tenant starts with no secret at all: connecting creates it.
    boto3.client("secretsmanager").delete_secret(
        SecretId=env["DEALWIRE_TENANT_SECRET_PREFIX"] + TENANT_ID, ForceDeleteWithoutRecovery=True
    )
    monkeypatch.setenv("DEALWIRE_WEBHOOK_BASE_URL", gateway.url)
    integrations_settings.cache_clear()
    seed_crm(aws)
    with simulator(private_key) as sim:
        service = DocuSignConnection(
            access=DocuSignAccess(env["DEALWIRE_DOCUSIGN_APP_SECRET"], sim.url, None),
            secrets_store=TenantSecrets(env["DEALWIRE_TENANT_SECRET_PREFIX"]),
            store=IntegrationStore(table(aws)),
            redirect_uri=REDIRECT_URI,
            polls=PollStateStore(table(aws)),
        )
        monkeypatch.setattr(app, "connection", lambda: service)
        yield Connecting(aws, sim, private_key)
    integrations_settings.cache_clear()


def tracked(stack: Stack, envelope_id: str) -> Tracker:
    """The envelope as the webhook recorded it; it must be there."""
    found = EnvelopeStore(table(stack)).tracker(TENANT_ID, envelope_id)
    assert found is not None, f"the webhook recorded nothing for {envelope_id}"
    return found


# -- connecting -------------------------------------------------------------------------------------


def test_connecting_from_nothing_creates_the_configuration_and_the_key_and_callbacks_arrive(
    connecting: Connecting, gateway: Gateway
) -> None:
    started = connecting.consent()
    consent = urlsplit(started["consentUrl"])
    query = parse_qs(consent.query)
    assert consent.path == "/oauth/auth"
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["signature impersonation"]
    assert (query["client_id"], query["redirect_uri"]) == ([INTEGRATION_KEY], [REDIRECT_URI])

    status, health = integrations("POST", f"{ROUTE}/complete", {"state": started["state"], "userId": USER_ID})
    assert status == 200, health
    url = f"{gateway.url}/webhooks/docusign/{TENANT_ID}"
    assert (health["state"], health["accountId"], health["webhookUrl"]) == ("connected", ACCOUNT_ID, url)
    assert [f["code"] for f in health["findings"]] == ["no_callback_yet"]

    (configuration,) = connecting.control.configurations()
    assert configuration["urlToPublishTo"] == url
    assert configuration["eventData"]["format"] == "json"
    assert str(configuration["includeHMAC"]).lower() == "true"
    assert str(configuration["includeDocuments"]).lower() == "false"
    assert "recipient-completed" in configuration["events"]
    (key,) = connecting.control.hmac_keys()
    stored = secret(connecting.stack)
    assert [entry["key"] for entry in stored["hmacKeys"]] == [key["secret"]]
    assert stored["docusignAccountId"] == ACCOUNT_ID
    assert stored["docusignUserId"] == USER_ID
    assert stored["connectConfigurationId"] == str(configuration["connectId"])

    envelope_id = connecting.send_envelope()
    assert tracked(connecting.stack, envelope_id).envelope["status"] == "sent"
    status, health = integrations("GET")
    assert status == 200
    assert health["lastCallbackAt"]
    assert health["findings"] == []
    assert [k["knownToDocusign"] for k in health["keys"]] == [True]
    assert health["apiBudget"]["limit"] == 3000


def test_connecting_again_updates_the_configuration_and_keeps_the_key(connecting: Connecting) -> None:
    first = connecting.connect()
    key = secret(connecting.stack)["hmacKeys"]
    second = connecting.connect()
    assert second["connectConfigurationId"] == first["connectConfigurationId"]
    assert len(connecting.control.configurations()) == 1
    assert len(connecting.control.hmac_keys()) == 1
    assert secret(connecting.stack)["hmacKeys"] == key


def test_an_existing_configuration_of_dealwires_is_taken_over_not_duplicated(
    aws: Stack, gateway: Gateway, private_key: rsa.RSAPrivateKey, connecting: Connecting
) -> None:
    """Set up by hand before (the operator's old way): same URL, XML, no HMAC: repaired in place."""
    url = f"{gateway.url}/webhooks/docusign/{TENANT_ID}"
    answer = connecting.rest(
        "POST",
        "connect",
        json={
            "name": "CRM callbacks",
            "configurationType": "custom",
            "urlToPublishTo": url,
            "allUsers": "true",
            "allowEnvelopePublish": "true",
            "events": ["envelope-completed"],
            "eventData": {"version": "restv2.1", "format": "xml"},
        },
    )
    assert answer.status_code == 201, answer.text
    made = answer.json()
    health = connecting.connect()
    (configuration,) = connecting.control.configurations()
    assert str(configuration["connectId"]) == str(made["connectId"]) == health["connectConfigurationId"]
    assert configuration["eventData"]["format"] == "json"
    assert str(configuration["includeHMAC"]).lower() == "true"


def test_without_consent_completing_says_where_to_consent(
    aws: Stack, gateway: Gateway, private_key: rsa.RSAPrivateKey, connecting: Connecting
) -> None:
    connecting.control.set_consent(granted=False)
    status, started = integrations("POST")
    assert status == 200
    status, refused = integrations(
        "POST", f"{ROUTE}/complete", {"state": started["state"], "userId": USER_ID}
    )
    assert (status, refused["error"]["code"]) == (409, "consent_required")
    assert "/oauth/auth?" in refused["error"]["message"]
    assert connecting.control.configurations() == []


def test_consent_withdrawn_later_is_a_finding_that_carries_the_consent_url(connecting: Connecting) -> None:
    connecting.connect()
    connecting.control.set_consent(granted=False)
    connecting.control.expire_tokens()
    from dealwire.docusign import client

    client._TOKENS.clear()  # a new container: no token kept from before the consent went
    status, health = integrations("GET")
    assert status == 200
    (finding,) = [f for f in health["findings"] if f["code"] == "consent_required"]
    assert finding["severity"] == "error"
    assert "/oauth/auth?" in finding["consentUrl"]
    assert health["state"] == "needs_attention"


def test_a_configuration_changed_by_hand_is_named_and_connecting_again_repairs_it(
    connecting: Connecting,
) -> None:
    connecting.connect()
    (configuration,) = connecting.control.configurations()
    connecting.control.update_configuration(
        configuration["connectId"],
        urlToPublishTo="https://typo.example.com/hook",
        events=["envelope-sent", "envelope-completed"],
    )
    health = integrations("GET")[1]
    found = {f["code"]: f for f in health["findings"]}
    assert health["state"] == "needs_attention"
    assert "https://typo.example.com/hook" in found["connect_url_differs"]["message"]
    assert "recipient-completed" in found["connect_events_missing"]["message"]
    connecting.connect()
    assert {f["code"] for f in integrations("GET")[1]["findings"]} <= {"no_callback_yet"}


def test_a_disabled_configuration_is_an_error(connecting: Connecting) -> None:
    connecting.connect()
    (configuration,) = connecting.control.configurations()
    connecting.control.disable_configuration(configuration["connectId"])
    codes = [f["code"] for f in integrations("GET")[1]["findings"]]
    assert "connect_configuration_disabled" in codes


def test_state_is_one_time_and_bound_to_who_started_it(connecting: Connecting) -> None:
    status, started = integrations("POST")
    body = {"state": started["state"], "userId": USER_ID}
    status, refused = integrations(
        "POST", f"{ROUTE}/complete", body, claims={**SAM, "dealwire:role": "admin"}
    )
    assert (status, refused["error"]["code"]) == (400, "invalid_state")
    assert integrations("POST", f"{ROUTE}/complete", body)[0] == 200
    status, refused = integrations("POST", f"{ROUTE}/complete", body)
    assert (status, refused["error"]["code"]) == (400, "invalid_state")


def test_an_account_the_user_does_not_have_is_refused_naming_theirs(connecting: Connecting) -> None:
    _, started = integrations("POST")
    body = {"state": started["state"], "userId": USER_ID, "accountId": "00000000-0000-4000-8000-000000000000"}
    status, refused = integrations("POST", f"{ROUTE}/complete", body)
    assert (status, refused["error"]["code"]) == (400, "unknown_account")
    assert ACCOUNT_ID in refused["error"]["message"]


# -- who may ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", ROUTE), ("GET", ROUTE), ("POST", f"{ROUTE}/rotate-key"), ("DELETE", ROUTE)],
)
def test_a_caller_without_the_admin_role_is_refused(connecting: Connecting, method: str, path: str) -> None:
    status, refused = integrations(method, path, claims=ULLA)
    assert (status, refused["error"]["code"]) == (403, "forbidden")
    assert "admin" in refused["error"]["message"]
    other_role = {**ULLA, "dealwire:role": "sales"}
    assert integrations(method, path, claims=other_role)[0] == 403


def test_an_admin_who_is_no_active_user_is_refused(connecting: Connecting) -> None:
    ghost = {"dealwire:tenant": TENANT_ID, "sub": "user-99", "dealwire:role": "admin"}
    status, refused = integrations("POST", claims=ghost)
    assert (status, refused["error"]["code"]) == (403, "forbidden")


def test_a_complete_body_is_validated(connecting: Connecting) -> None:
    status, refused = integrations("POST", f"{ROUTE}/complete", {"state": "short", "userId": "not-a-guid"})
    assert status == 400
    assert "userId" in refused["error"]["message"]


def test_the_health_check_shows_the_pollers_last_cycle_and_what_it_says_of_connect(
    connecting: Connecting,
) -> None:
    started = connecting.consent()
    status, _ = integrations("POST", f"{ROUTE}/complete", {"state": started["state"], "userId": USER_ID})
    assert status == 200
    connecting.send_envelope()
    polls = PollStateStore(table(connecting.stack))
    assert polls.acquire(TENANT_ID, "cycle-1", seconds=60) is not None
    last = {"outcome": "done", "started_at": "2026-12-02T10:00:00.0000000Z", "calls": 1, "reconciled": 2}
    polls.finish(TENANT_ID, "cycle-1", PollState(watermark=last["started_at"], last_cycle=last))

    status, health = integrations("GET")

    assert status == 200
    assert health["lastPoll"] == {
        "outcome": "done",
        "startedAt": "2026-12-02T10:00:00.0000000Z",
        "calls": 1,
        "reconciled": 2,
        "budgetRemaining": None,
        "detail": "",
    }
    assert [f["code"] for f in health["findings"]] == ["changes_seen_only_by_polling"]
    assert health["state"] == "connected"  # a warning: the poller keeps the envelopes up to date


def test_before_connecting_the_health_check_says_to_connect(connecting: Connecting) -> None:
    status, health = integrations("GET")
    assert (status, health["state"]) == (200, "not_connected")
    assert [f["code"] for f in health["findings"]] == ["not_connected"]
    status, refused = integrations("POST", f"{ROUTE}/rotate-key")
    assert (status, refused["error"]["code"]) == (409, "not_connected")


# -- rotating the key ---------------------------------------------------------------------------------


def test_a_rotation_keeps_every_callback_verified_and_ends_when_the_new_key_proves_itself(
    connecting: Connecting,
) -> None:
    connecting.connect()
    first = connecting.send_envelope()  # the webhook's container caches the secret with the old key
    old_key = secret(connecting.stack)["hmacKeys"][0]["key"]

    status, started = integrations("POST", f"{ROUTE}/rotate-key")
    assert status == 200, started
    assert len(connecting.control.hmac_keys()) == 2
    stored = secret(connecting.stack)["hmacKeys"]
    assert [(k["state"], k["key"] == old_key) for k in stored] == [("active", True), ("new", False)]
    status, refused = integrations("POST", f"{ROUTE}/rotate-key")
    assert (status, refused["error"]["code"]) == (409, "rotation_in_progress")

    # The webhook's container still caches the secret with the old key alone. DocuSign now
    # signs with both: the old key verifies the callback, and the second signature has the
    # webhook read the secret again, so the new key proves itself on this very callback.
    bus = tap(connecting.stack)
    reads = RequestLog()
    connecting.control.sign(first, "1")
    assert tracked(connecting.stack, first).signed == 1
    assert reads.take().get("GetSecretValue") == 1
    rotation = IntegrationStore(table(connecting.stack)).integration(TENANT_ID)["rotation"]  # type: ignore[index]
    assert rotation["verified_at"]
    second = connecting.send_envelope()
    assert "GetSecretValue" not in reads.take()  # the container has both keys now

    # The stream says so on the bus; the integrations function ends the rotation.
    publish_all(connecting.stack)
    (verified,) = [
        eventbridge_event(json.dumps(e)) for e in drain(bus) if e["detail-type"] == "integration.key_verified"
    ]
    assert verified["detail"]["keyId"] == started["newKeyId"]
    from integrations import app

    assert app.lambda_handler(verified, FakeContext()) == {"finished": True}
    (key,) = connecting.control.hmac_keys()
    assert key["keyId"] == started["newKeyId"]
    (entry,) = secret(connecting.stack)["hmacKeys"]
    assert (entry["keyId"], entry["state"]) == (started["newKeyId"], "active")
    # The same event again (EventBridge delivers at least once) changes nothing.
    assert app.lambda_handler(verified, FakeContext()) == {"finished": False}

    # Callbacks go on being verified with the new key alone, even by a container that cached both.
    connecting.control.sign(second, "1")
    assert tracked(connecting.stack, second).signed == 1
    assert [f["code"] for f in integrations("GET")[1]["findings"]] == []


def test_an_event_of_another_kind_is_refused_by_name(connecting: Connecting) -> None:
    from integrations import app

    with pytest.raises(ValueError, match=r"integration\.key_verified"):
        app.lambda_handler({"detail-type": "envelope.completed", "detail": {}}, FakeContext())


# -- disconnecting ------------------------------------------------------------------------------------


def test_disconnecting_removes_the_configuration_and_the_keys_and_keeps_the_data(
    connecting: Connecting,
) -> None:
    connecting.connect()
    envelope_id = connecting.send_envelope()
    status, done = integrations("DELETE")
    assert status == 200, done
    assert (done["configurationDeleted"], done["keysDeleted"]) == (True, 1)
    assert connecting.control.configurations() == []
    assert connecting.control.hmac_keys() == []
    stored = secret(connecting.stack)
    assert "hmacKeys" not in stored
    assert stored["docusignAccountId"] == ACCOUNT_ID  # what the tenant's data is keyed by stays
    tracked(connecting.stack, envelope_id)
    assert integrations("GET")[1]["state"] == "not_connected"
    status, refused = integrations("DELETE")
    assert (status, refused["error"]["code"]) == (409, "not_connected")


def test_a_tenants_new_secret_is_encrypted_with_the_stacks_customer_key(
    aws: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With KmsKeyArn, the secret connecting creates is under that key; without, under AWS's."""
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    env = aws.function_environment("IntegrationsFunction")
    for name, value in {**env, "DEALWIRE_SECRETS_KMS_KEY_ID": key}.items():
        monkeypatch.setenv(name, value)
    integrations_settings.cache_clear()
    try:
        writer = DocuSignConnection.from_settings(integrations_settings())._secrets
    finally:
        integrations_settings.cache_clear()
    client = boto3.client("secretsmanager")
    for tenant, expected in (("tenant-keyed", key), ("tenant-plain", None)):
        store = writer if expected else TenantSecrets(env["DEALWIRE_TENANT_SECRET_PREFIX"])
        store.write(tenant, {"docusignAccountId": ACCOUNT_ID})
        described = client.describe_secret(SecretId=env["DEALWIRE_TENANT_SECRET_PREFIX"] + tenant)
        assert described.get("KmsKeyId") == expected
        client.delete_secret(SecretId=described["ARN"], ForceDeleteWithoutRecovery=True)
