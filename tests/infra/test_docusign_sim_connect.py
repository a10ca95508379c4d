"""infra/docusign_sim: Connect configurations, account HMAC keys, the failure log and the consent page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from infra.docusign_sim import Simulator, SimulatorControl, SimulatorControlError
from tests.docusign_support import INTEGRATION_KEY, closed_port_url, new_private_key, simulator
from tests.infra.test_docusign_sim import Api, Receiver, assertion, grant, parse
from tests.support import ACCOUNT_ID

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cryptography.hazmat.primitives.asymmetric import rsa

REST_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$")
EVERY_EVENT = [
    "envelope-sent",
    "envelope-delivered",
    "envelope-completed",
    "envelope-declined",
    "envelope-voided",
    "recipient-sent",
    "recipient-delivered",
    "recipient-completed",
    "recipient-declined",
]
SIGNING = [  # what sending, then both signers signing, announces
    "envelope-sent",
    "recipient-sent",
    "recipient-delivered",
    "recipient-completed",
    "recipient-sent",
    "recipient-delivered",
    "envelope-delivered",
    "recipient-completed",
    "envelope-completed",
]


def signatures(headers: dict[str, str]) -> list[str]:
    """The X-DocuSign-Signature-N values in N's order."""
    found = {int(name.rsplit("-", 1)[1]): value for name, value in headers.items() if "Signature-" in name}
    assert sorted(found) == list(range(1, len(found) + 1))
    return [found[n] for n in sorted(found)]


def hmac_of(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_private_key()


@pytest.fixture
def listeners() -> Iterator[Callable[[], Receiver]]:
    started: list[Receiver] = []

    def start() -> Receiver:
        started.append(Receiver())
        return started[-1]

    yield start
    for listener in started:
        listener.close()


@pytest.fixture
def sim(key: rsa.RSAPrivateKey) -> Iterator[Simulator]:
    with simulator(key) as started:  # no start-up settings: no configuration, no key
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


def configuration(url: str, **fields: Any) -> dict[str, Any]:
    """A connectCustomConfiguration as dealwire would create it: JSON SIM, signed, every event."""
    return {
        "configurationType": "custom",
        "urlToPublishTo": url,
        "name": "dealwire",
        "allowEnvelopePublish": "true",
        "enableLog": "true",
        "includeHMAC": "true",
        "requiresAcknowledgement": "true",
        "allUsers": "true",
        "deliveryMode": "SIM",
        "events": EVERY_EVENT,
        "eventData": {
            "version": "restv2.1",
            "format": "json",
            "includeData": ["recipients", "custom_fields"],
        },
    } | fields


def create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.call("POST", "connect", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def sign_all(api: Api, control: SimulatorControl) -> str:
    envelope_id = api.create()
    control.sign(envelope_id, "1")
    control.sign(envelope_id, "2")
    return envelope_id


def test_a_configuration_is_created_listed_read_updated_and_deleted(
    api: Api, control: SimulatorControl, listeners: Callable[[], Receiver]
) -> None:
    listener = listeners()
    body = configuration(
        listener.url, includeDocuments=True, signMessageWithX509Certificate="false", userIds=["u-1"]
    )
    first = api.call("POST", "connect", json=body)
    assert first.status_code == 201, first.text
    assert int(first.headers["X-RateLimit-Remaining"]) < int(first.headers["X-RateLimit-Limit"])
    created = first.json()
    connect_id = created["connectId"]
    assert connect_id.isdigit()
    # Every value DocuSign types as a string is one: a JSON true became "true".
    assert created == {"connectId": connect_id, **body, "includeDocuments": "true"}

    listed = api.call("GET", "connect").json()
    assert listed == {"configurations": [created], "totalRecords": "1"}
    assert control.configurations() == [created]
    one = api.call("GET", f"connect/{connect_id}").json()
    assert one == {"configurations": [created], "totalRecords": "1"}  # connectConfigResults here too

    second = create(api, configuration(listener.url, name="second"))
    assert second["connectId"] != connect_id
    assert [c["connectId"] for c in control.configurations()] == [connect_id, second["connectId"]]

    changed = api.call(
        "PUT", "connect", json={"connectId": connect_id, "name": "renamed", "events": ["envelope-completed"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == created | {"name": "renamed", "events": ["envelope-completed"]}
    assert api.call("GET", f"connect/{connect_id}").json()["configurations"][0]["name"] == "renamed"

    deleted = api.call("DELETE", f"connect/{connect_id}")
    assert (deleted.status_code, deleted.content) == (200, b"")
    assert "X-RateLimit-Remaining" in deleted.headers
    for method, path, extra in (
        ("GET", f"connect/{connect_id}", {}),
        ("DELETE", f"connect/{connect_id}", {}),
        ("PUT", "connect", {"json": {"connectId": connect_id, "name": "x"}}),
    ):
        missing = api.call(method, path, **extra)
        assert (missing.status_code, missing.json()["errorCode"]) == (404, "CONNECT_CONFIGURATION_NOT_FOUND")
    assert [c["connectId"] for c in control.configurations()] == [second["connectId"]]
    no_id = api.call("PUT", "connect", json={"name": "x"})
    assert (no_id.status_code, no_id.json()["errorCode"]) == (400, "INVALID_REQUEST_PARAMETER")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"urlToPublishTo": None}, "urlToPublishTo"),
        ({"urlToPublishTo": "/webhooks/docusign"}, "urlToPublishTo"),
        ({"urlToPublishTo": "ftp://127.0.0.1/x"}, "urlToPublishTo"),
        ({"urlToPublishTo": "http://listener.example.com/x"}, "urlToPublishTo"),  # http: loopback only
        ({"events": ["envelope-sent", "envelope-signed"]}, "envelope-signed"),
        ({"events": "envelope-sent"}, "events"),
        ({"eventData": {"version": "restv2", "format": "json"}}, "eventData.version"),
        ({"eventData": {"version": "restv2.1", "format": "csv"}}, "eventData.format"),
        (
            {"eventData": {"version": "restv2.1", "format": "json", "includeData": ["signatures"]}},
            "signatures",
        ),
        ({"configurationType": "salesforce"}, "configurationType"),
        ({"deliveryMode": "batch"}, "deliveryMode"),
        ({"allUsers": "false"}, "userIds"),
        ({"includeHMAC": "yes"}, "includeHMAC"),
    ],
)
def test_a_configuration_docusign_would_not_take_is_refused(
    api: Api, change: dict[str, Any], named: str
) -> None:
    body = {
        k: v for k, v in (configuration("https://listener.example.com/x") | change).items() if v is not None
    }
    refused = api.call("POST", "connect", json=body)
    assert (refused.status_code, refused.json()["errorCode"]) == (400, "INVALID_REQUEST_PARAMETER")
    assert named in refused.json()["message"]
    assert api.call("GET", "connect").json() == {"configurations": [], "totalRecords": "0"}


def test_a_request_that_is_no_configuration_is_refused(api: Api) -> None:
    refused = api.call("POST", "connect", json=["urlToPublishTo"])
    assert (refused.status_code, refused.json()["errorCode"]) == (400, "INVALID_REQUEST_BODY")
    https = create(api, configuration("https://listener.example.com/x", allUsers="false", userIds=["u"]))
    assert https["urlToPublishTo"] == "https://listener.example.com/x"
    update = api.call("PUT", "connect", json={"connectId": https["connectId"], "urlToPublishTo": "x"})
    assert (update.status_code, update.json()["errorCode"]) == (400, "INVALID_REQUEST_PARAMETER")


def test_callbacks_go_to_each_configuration_in_its_format_signed_by_every_active_key(
    api: Api, control: SimulatorControl, listeners: Callable[[], Receiver]
) -> None:
    keys = [api.call("POST", "connect/secret").json()["secret"] for _ in range(2)]
    json_listener, xml_listener, unsigned_listener = listeners(), listeners(), listeners()
    json_config = create(api, configuration(json_listener.url))
    xml_config = create(
        api,
        configuration(
            xml_listener.url,
            events=["envelope-sent", "envelope-completed"],
            eventData={"version": "restv2.1", "format": "xml"},
            includeDocuments="true",
        ),
    )
    create(api, configuration(unsigned_listener.url, includeHMAC="false", eventData=None))
    sign_all(api, control)

    assert json_listener.events() == SIGNING
    assert xml_listener.events() == ["envelope-sent", "envelope-completed"]
    assert len(unsigned_listener.received) == len(SIGNING)  # legacy XML names no event
    for listener in (json_listener, xml_listener):
        for headers, body in listener.received:
            # One header per active key, in the order the keys were created.
            assert signatures(headers) == [hmac_of(body, k) for k in keys]
    assert all(signatures(headers) == [] for headers, _ in unsigned_listener.received)

    for headers, body in json_listener.received:
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body)["configurationId"] == int(json_config["connectId"])
    completed = parse(*json_listener.received[-1])
    assert (completed.envelope.status, completed.envelope.deal_id) == ("completed", "deal-1001")
    assert "envelopeDocuments" not in json.loads(json_listener.received[-1][1])["data"]["envelopeSummary"]
    xml_completed = parse(*xml_listener.received[-1])
    assert xml_listener.received[-1][0]["Content-Type"] == "text/xml; charset=utf-8"
    assert {d.kind for d in xml_completed.documents} == {"content", "summary"}
    # No eventData: DocuSign's legacy XML.
    assert unsigned_listener.received[0][0]["Content-Type"] == "text/xml; charset=utf-8"

    records = control.callbacks()
    assert len(records) == 2 * len(SIGNING) + 2
    assert {r["connectId"] for r in records if r["url"] == xml_listener.url} == {xml_config["connectId"]}
    assert control.failures() == []


def test_include_data_says_what_the_envelope_summary_carries(
    api: Api, control: SimulatorControl, listeners: Callable[[], Receiver]
) -> None:
    bare, recipients_only = listeners(), listeners()
    event_data = {"version": "restv2.1", "format": "json"}
    create(api, configuration(bare.url, events=["envelope-sent"], eventData=event_data))
    create(
        api,
        configuration(
            recipients_only.url,
            events=["envelope-sent"],
            eventData=event_data | {"includeData": ["recipients"]},
        ),
    )
    api.create()
    assert "envelopeSummary" not in json.loads(bare.received[0][1])["data"]
    summary = json.loads(recipients_only.received[0][1])["data"]["envelopeSummary"]
    assert ("recipients" in summary, "customFields" in summary) == (True, False)


def test_a_disabled_paused_unpublished_foreign_or_deleted_configuration_gets_nothing(
    api: Api, control: SimulatorControl, listeners: Callable[[], Receiver]
) -> None:
    api.call("POST", "connect/secret")
    enabled, disabled, paused, unpublished, foreign, deleted = (listeners() for _ in range(6))
    create(api, configuration(enabled.url))
    to_disable = create(api, configuration(disabled.url))
    create(api, configuration(paused.url, pausePublish="true"))
    create(api, configuration(unpublished.url, allowEnvelopePublish="false"))
    create(api, configuration(foreign.url, allUsers="false", userIds=[str(uuid.uuid4())]))
    to_delete = create(api, configuration(deleted.url))
    after_disabling = control.disable_configuration(to_disable["connectId"])
    assert (after_disabling["allowEnvelopePublish"], after_disabling["disabledBy"]) == ("false", "System")
    listed = api.call("GET", f"connect/{to_disable['connectId']}").json()["configurations"][0]
    assert listed == after_disabling
    assert api.call("DELETE", f"connect/{to_delete['connectId']}").status_code == 200

    sign_all(api, control)
    assert enabled.events() == SIGNING
    assert [len(x.received) for x in (disabled, paused, unpublished, foreign, deleted)] == [0] * 5

    # Published again, a disabled configuration is no longer disabled.
    again = api.call(
        "PUT", "connect", json={"connectId": to_disable["connectId"], "allowEnvelopePublish": "true"}
    )
    assert "disabledBy" not in again.json()
    api.create()
    assert disabled.events() == ["envelope-sent", "recipient-sent"]
    with pytest.raises(SimulatorControlError) as unknown:
        control.disable_configuration("1")
    assert unknown.value.status == 404


def test_a_configuration_changed_by_hand_is_checked_as_put_checks_it(
    api: Api, control: SimulatorControl, listeners: Callable[[], Receiver]
) -> None:
    api.call("POST", "connect/secret")
    listener = listeners()
    created = create(api, configuration(listener.url))
    connect_id = created["connectId"]
    changed = control.update_configuration(connect_id, events=["envelope-sent"], includeHMAC=False)
    assert changed == created | {"events": ["envelope-sent"], "includeHMAC": "false"}
    assert control.configurations() == [changed]
    api.create()
    assert listener.events() == ["envelope-sent"]
    assert signatures(listener.received[0][0]) == []

    control.disable_configuration(connect_id)
    assert "disabledBy" not in control.update_configuration(connect_id, allowEnvelopePublish=True)
    with pytest.raises(SimulatorControlError) as refused:
        control.update_configuration(connect_id, urlToPublishTo="ftp://127.0.0.1/x")
    assert (refused.value.status, json.loads(refused.value.body)["errorCode"]) == (
        400,
        "INVALID_REQUEST_PARAMETER",
    )
    with pytest.raises(SimulatorControlError) as missing:
        control.update_configuration("1", name="x")
    assert missing.value.status == 404


def test_with_no_enabled_configuration_a_callback_is_recorded_as_not_sent(
    api: Api, control: SimulatorControl
) -> None:
    api.create()
    records = control.callbacks()
    assert [r["event"] for r in records] == ["envelope-sent", "recipient-sent"]
    assert all(r["url"] is None and r["error"].startswith("no webhook URL") for r in records)
    assert control.failures() == []  # nothing was attempted, so nothing failed


def test_hmac_keys_are_created_listed_truncated_and_deleted(
    api: Api, control: SimulatorControl, listeners: Callable[[], Receiver]
) -> None:
    control.configure(maxHmacKeys=3)  # room for three, to delete from the middle
    before = datetime.now(UTC) - timedelta(seconds=1)
    answers = [api.call("POST", "connect/secret") for _ in range(3)]
    assert [a.status_code for a in answers] == [201] * 3
    created = [a.json() for a in answers]
    for key in created:
        assert set(key) == {"keyId", "secret", "createdDateTime"}
        assert str(uuid.UUID(key["keyId"])) == key["keyId"]
        assert (len(key["secret"]), key["secret"][-1], len(base64.b64decode(key["secret"]))) == (44, "=", 32)
        assert REST_TIME.match(key["createdDateTime"])
        assert datetime.fromisoformat(key["createdDateTime"][:26] + "+00:00") >= before
    assert len({k["secret"] for k in created}) == 3
    listed = api.call("GET", "connect/secret")
    assert listed.status_code == 200
    assert listed.json() == {
        "secrets": [k | {"secret": k["secret"][:4] + "****"} for k in created]  # in creation order
    }
    assert control.hmac_keys() == created  # full, for tests

    listener = listeners()
    create(api, configuration(listener.url, events=["envelope-sent"]))
    deleted = api.call("DELETE", f"connect/secret/{created[0]['keyId']}")
    assert (deleted.status_code, deleted.json()) == (200, {})
    api.create()  # the next callback is signed by the keys left, in their order
    headers, body = listener.received[-1]
    assert signatures(headers) == [hmac_of(body, k["secret"]) for k in created[1:]]

    # DocuSign's reference calls keyId the one-based position in the list: that works too.
    assert api.call("DELETE", "connect/secret/2").status_code == 200
    assert [k["keyId"] for k in control.hmac_keys()] == [created[1]["keyId"]]
    missing = api.call("DELETE", f"connect/secret/{created[0]['keyId']}")
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "CONNECT_SECRET_NOT_FOUND")
    api.create()
    assert signatures(listener.received[-1][0]) == [hmac_of(listener.received[-1][1], created[1]["secret"])]


def test_an_account_has_at_most_two_hmac_keys_unless_told_otherwise(
    api: Api, control: SimulatorControl, key: rsa.RSAPrivateKey
) -> None:
    assert [api.call("POST", "connect/secret").status_code for _ in range(2)] == [201, 201]
    refused = api.call("POST", "connect/secret")
    assert (refused.status_code, refused.json()["errorCode"]) == (400, "CONNECT_SECRET_LIMIT_EXCEEDED")
    assert "maximum of 2" in refused.json()["message"]
    assert len(control.hmac_keys()) == 2

    assert control.configure(maxHmacKeys=3)["maxHmacKeys"] == 3
    assert api.call("POST", "connect/secret").status_code == 201
    assert api.call("POST", "connect/secret").status_code == 400
    # The start-up keys are held to the limit too, at start and at run time.
    with pytest.raises(SimulatorControlError) as too_many:
        control.configure(hmacKeys=["k1", "k2", "k3"], maxHmacKeys=2)
    assert too_many.value.status == 400
    for bound in (-1, 101):
        with pytest.raises(SimulatorControlError):
            control.configure(maxHmacKeys=bound)
    with pytest.raises(ValueError, match="at most 2 HMAC keys"), simulator(key, hmac_keys=["k1", "k2", "k3"]):
        pass
    with simulator(key, hmac_keys=["k1", "k2", "k3"], max_hmac_keys=3) as roomy:
        assert len(SimulatorControl(roomy.url).hmac_keys()) == 3


def test_failed_deliveries_are_in_the_failure_log(
    api: Api, control: SimulatorControl, listeners: Callable[[], Receiver], sim: Simulator
) -> None:
    refusing = listeners()
    refusing.status = 401
    refused_config = create(api, configuration(refusing.url, events=["envelope-sent"]))
    unreachable_url = closed_port_url()
    unreachable_config = create(api, configuration(unreachable_url, events=["envelope-sent"]))
    envelope_id = api.create()

    answer = api.call("GET", "connect/failures")
    assert answer.status_code == 200
    logged = answer.json()
    assert logged["totalRecords"] == "2"
    refused, unreachable = logged["failures"]
    for failure, config, url in (
        (refused, refused_config, refusing.url),
        (unreachable, unreachable_config, unreachable_url),
    ):
        assert str(uuid.UUID(failure["failureId"])) == failure["failureId"]
        assert failure | {"failureId": "", "created": "", "lastTry": "", "error": ""} == {
            "failureId": "",
            "accountId": ACCOUNT_ID,
            "envelopeId": envelope_id,
            "connectId": config["connectId"],
            "configUrl": url,
            "created": "",
            "lastTry": "",
            "retryCount": "0",
            "status": "Sent",
            "error": "",
            "email": sim.config.user_email,
            "userName": sim.config.user_name,
            "subject": "Please DocuSign: Deal 1001",
            "failureUri": f"/connect/failures/{failure['failureId']}",
            "retryUri": f"/connect/envelopes/{envelope_id}/retry_queue",
        }
        assert REST_TIME.match(failure["created"])
        assert failure["lastTry"] == failure["created"]
    assert refused["error"] == "The remote server returned an error: (401) Unauthorized."
    assert unreachable["error"] == "Unable to connect to the remote server"
    assert control.failures() == logged["failures"]

    yesterday, tomorrow = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    for form in ("%Y-%m-%d", "%m/%d/%Y", "%Y-%m-%dT%H:%M:%S%z"):
        dates = {"from_date": yesterday.strftime(form), "to_date": tomorrow.strftime(form)}
        assert api.call("GET", "connect/failures", params=dates).json()["totalRecords"] == "2"
        later = {"from_date": tomorrow.strftime(form)}
        assert api.call("GET", "connect/failures", params=later).json() == {
            "failures": [],
            "totalRecords": "0",
        }
    bad = api.call("GET", "connect/failures", params={"from_date": "yesterday"})
    assert (bad.status_code, bad.json()["errorCode"]) == (400, "INVALID_REQUEST_PARAMETER")

    deleted = api.call("DELETE", f"connect/failures/{refused['failureId']}")
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert [f["failureId"] for f in control.failures()] == [unreachable["failureId"]]
    missing = api.call("DELETE", f"connect/failures/{refused['failureId']}")
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "CONNECT_FAILURE_NOT_FOUND")
    assert api.call("DELETE", "connect/failures/all").status_code == 200  # DocuSign's "every failure"
    assert control.failures() == []


def test_a_listener_that_answers_too_late_is_a_failure(
    key: rsa.RSAPrivateKey, http: httpx.Client, listeners: Callable[[], Receiver]
) -> None:
    slow = listeners()
    slow.delay = 1.0
    with simulator(key, callback_timeout=0.2) as sim:
        api = Api(http, sim, key)
        create(api, configuration(slow.url, events=["envelope-sent"]))
        api.create()
        (failure,) = SimulatorControl(sim.url).failures()
    assert failure["error"] == "The operation has timed out."


def test_the_start_up_settings_are_a_configuration_like_any_other(
    key: rsa.RSAPrivateKey, http: httpx.Client, listeners: Callable[[], Receiver]
) -> None:
    listener = listeners()
    start_key = "c2ltdWxhdG9yLWhtYWMta2V5LWZvci10ZXN0cy0wMDE="
    with simulator(key, webhook_url=listener.url, hmac_keys=[start_key], configuration_id=4242) as sim:
        api, control = Api(http, sim, key), SimulatorControl(sim.url)
        (startup,) = api.call("GET", "connect").json()["configurations"]
        assert startup == {
            "connectId": "4242",
            "configurationType": "custom",
            "name": "sim (start-up settings)",
            "urlToPublishTo": listener.url,
            "allowEnvelopePublish": "true",
            "enableLog": "true",
            "includeHMAC": "true",
            "includeDocuments": "false",
            "requiresAcknowledgement": "true",
            "allUsers": "true",
            "deliveryMode": "SIM",
            "events": sorted(EVERY_EVENT),
            "eventData": {
                "version": "restv2.1",
                "format": "json",
                "includeData": ["custom_fields", "recipients"],
            },
        }
        (listed_key,) = api.call("GET", "connect/secret").json()["secrets"]
        assert listed_key["secret"] == "c2lt****"
        api.create()
        assert json.loads(listener.received[0][1])["configurationId"] == 4242
        assert signatures(listener.received[0][0]) == [hmac_of(listener.received[0][1], start_key)]

        control.configure(connectFormat="xml", hmacKeys=["k1", "k2"])
        (startup,) = control.configurations()
        assert startup["eventData"]["format"] == "xml"
        assert [k["secret"] for k in control.hmac_keys()] == ["k1", "k2"]
        assert control.config()["hmacKeyCount"] == 2
        ours = create(api, configuration(listener.url, events=["envelope-sent"]))
        assert [c["connectId"] for c in control.configurations()] == ["4242", ours["connectId"]]
        # Another configuration's connectId is refused, and the start-up one stays as it was.
        with pytest.raises(SimulatorControlError) as clash:
            control.configure(configurationId=int(ours["connectId"]))
        assert clash.value.status == 400
        assert [c["connectId"] for c in control.configurations()] == ["4242", ours["connectId"]]
        assert control.config()["configurationId"] == 4242

        assert api.call("DELETE", "connect/4242").status_code == 200
        listener.received.clear()
        api.create()
        assert listener.events() == ["envelope-sent"]  # our configuration's only
        control.configure(webhookUrl=None)
        assert [c["connectId"] for c in control.configurations()] == [ours["connectId"]]
        with pytest.raises(SimulatorControlError) as taken:
            control.configure(webhookUrl=listener.url, configurationId=int(ours["connectId"]))
        assert taken.value.status == 400


def consent_query(**overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "scope": "signature impersonation",
        "client_id": INTEGRATION_KEY,
        "redirect_uri": "http://127.0.0.1:9/docusign/callback?tenant=t-1",
        "state": "a b&c=d/é",
    } | overrides


def test_the_consent_page_grants_consent_and_redirects_with_a_code_and_the_state(
    sim: Simulator, control: SimulatorControl, http: httpx.Client, key: rsa.RSAPrivateKey
) -> None:
    control.set_consent(granted=False)
    assert grant(http, sim, assertion(sim, key)).json() == {"error": "consent_required"}

    answer = http.get(f"{sim.url}/oauth/auth", params=consent_query())
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("http", "127.0.0.1:9", "/docusign/callback")
    query = parse_qs(location.query)
    assert (query["tenant"], query["state"]) == (["t-1"], ["a b&c=d/é"])
    assert len(query["code"][0]) >= 32
    assert control.config()["consent"] is True
    assert grant(http, sim, assertion(sim, key)).status_code == 200
    assert grant(http, sim, assertion(sim, key, scope="signature")).status_code == 200

    # A consent to signature alone is no consent to impersonation, which the JWT grant needs.
    control.set_consent(granted=False)
    alone = http.get(f"{sim.url}/oauth/auth", params=consent_query(scope="signature"))
    assert alone.status_code == 302
    assert grant(http, sim, assertion(sim, key, scope="signature")).json() == {"error": "consent_required"}
    control.set_consent(granted=True)
    assert grant(http, sim, assertion(sim, key, scope="signature")).status_code == 200


def test_a_simulator_can_start_with_a_user_who_has_not_consented(
    key: rsa.RSAPrivateKey, http: httpx.Client
) -> None:
    with simulator(key, consent=False) as sim:
        assert SimulatorControl(sim.url).config()["consent"] is False
        assert grant(http, sim, assertion(sim, key)).json() == {"error": "consent_required"}
        assert http.get(f"{sim.url}/oauth/auth", params=consent_query()).status_code == 302
        assert grant(http, sim, assertion(sim, key)).status_code == 200


def test_the_consent_page_refuses_as_docusign_does(sim: Simulator, http: httpx.Client) -> None:
    def consent(**overrides: str) -> httpx.Response:
        return http.get(f"{sim.url}/oauth/auth", params=consent_query(**overrides))

    foreign = consent(client_id="not-the-integration-key")
    assert foreign.status_code == 400
    assert foreign.headers["Content-Type"].startswith("text/html")
    assert "invalid_client" in foreign.text
    as_json = http.get(
        f"{sim.url}/oauth/auth",
        params=consent_query(client_id="x"),
        headers={"Accept": "application/json"},
    )
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_client")
    for redirect_uri in ("/docusign/callback", "ftp://127.0.0.1/x", "http://127.0.0.1/x#frag", ""):
        refused = consent(redirect_uri=redirect_uri)
        assert (refused.status_code, "invalid_request" in refused.text) == (400, True)
    for overrides, error in (
        ({"scope": "impersonation"}, "invalid_scope"),
        ({"scope": ""}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ):
        redirected = consent(**overrides)
        assert redirected.status_code == 302
        query = parse_qs(urlsplit(redirected.headers["Location"]).query)
        assert (query["error"], query["state"], "code" in query) == ([error], ["a b&c=d/é"], False)


def test_connect_calls_count_against_the_budget_but_not_as_envelope_polls(
    api: Api, control: SimulatorControl, listeners: Callable[[], Receiver]
) -> None:
    control.configure(envelopePolling=True)
    created = create(api, configuration(listeners().url))
    remaining = [
        int(api.call("GET", f"connect/{created['connectId']}").headers["X-RateLimit-Remaining"])
        for _ in range(3)
    ]
    assert remaining == sorted(remaining, reverse=True)
    assert len(set(remaining)) == 3
    control.configure(rateLimit=0)
    limited = api.call("GET", "connect")
    assert limited.json()["errorCode"] == "HOURLY_APIINVOCATION_LIMIT_EXCEEDED"
