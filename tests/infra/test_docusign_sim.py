"""infra/docusign_sim: the local DocuSign speaks OAuth, REST v2.1 and Connect as dealwire reads them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dealwire.contracts.connect_json import parse_envelope_document
from dealwire.contracts.connect_message import parse_connect_message
from dealwire.webhook.signature import verify
from infra.docusign_sim import Simulator, SimulatorControl, SimulatorControlError
from tests.docusign_support import INTEGRATION_KEY, USER_ID

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "9f1c2a7e-3b4d-4c5e-8f6a-1b2c3d4e5f60"
HMAC_KEY = "c2ltdWxhdG9yLWhtYWMta2V5LWZvci10ZXN0cy0wMDE="
REST_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$")
SIGNERS = [
    {"roleName": "Signer 1", "name": "Alice Buyer", "email": "alice@example.com", "routingOrder": "1"},
    {"roleName": "Signer 2", "name": "Bob Seller", "email": "bob@example.com", "routingOrder": "2"},
]


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def public_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class Receiver:
    """A Connect listener on loopback: keeps every callback, answers ``status`` after ``delay``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers.items()), body))
                time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the simulator stopped waiting (a timeout)
                    self.close_connection = True

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/docusign"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def events(self) -> list[str]:
        return [parse(headers, body).event for headers, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def parse(headers: dict[str, str], body: bytes) -> Any:
    return parse_connect_message(body, headers["Content-Type"], account_id=ACCOUNT_ID, account_zone=UTC)


@pytest.fixture
def receiver() -> Any:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def sim(public_pem: bytes, receiver: Receiver) -> Any:
    simulator = Simulator(
        account_id=ACCOUNT_ID,
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
        public_key_pem=public_pem,
        webhook_url=receiver.url,
        hmac_keys=[HMAC_KEY],
    )
    with simulator:
        yield simulator


@pytest.fixture
def control(sim: Simulator) -> SimulatorControl:
    return SimulatorControl(sim.url)


@pytest.fixture
def http() -> Any:
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


def assertion(sim: Simulator, key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": INTEGRATION_KEY,
        "sub": USER_ID,
        "aud": f"127.0.0.1:{sim.port}",
        "iat": now,
        "exp": now + 3600,
        "scope": "signature impersonation",
    } | claims
    return jwt.encode(payload, key, algorithm="RS256")


def grant(http: httpx.Client, sim: Simulator, signed: str) -> httpx.Response:
    return http.post(
        f"{sim.url}/oauth/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": signed},
    )


class Api:
    """A bearer-authenticated client of the simulator's REST API for one test."""

    def __init__(self, http: httpx.Client, sim: Simulator, key: rsa.RSAPrivateKey) -> None:
        answer = grant(http, sim, assertion(sim, key))
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["access_token"]
        self.http = http
        self.base = f"{sim.url}/restapi/v2.1/accounts/{ACCOUNT_ID}"

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.http.request(method, f"{self.base}/{path}", headers=headers, **kwargs)

    def create(self, status: str = "sent", **extra: Any) -> str:
        body = {
            "templateId": "tpl-nda",
            "templateRoles": SIGNERS,
            "status": status,
            "emailSubject": "Please DocuSign: Deal 1001",
            "customFields": {"textCustomFields": [{"name": "dealwire_deal_id", "value": "deal-1001"}]},
        } | extra
        answer = self.call("POST", "envelopes", json=body)
        assert answer.status_code == 201, answer.text
        envelope_id: str = answer.json()["envelopeId"]
        return envelope_id


@pytest.fixture
def api(http: httpx.Client, sim: Simulator, private_key: rsa.RSAPrivateKey) -> Api:
    return Api(http, sim, private_key)


def check_pdf(pdf: bytes) -> None:
    """A PDF whose cross-reference table points at its objects."""
    assert pdf.startswith(b"%PDF-1.")
    assert pdf.rstrip().endswith(b"%%EOF")
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    assert pdf[xref:].startswith(b"xref\n")
    lines = pdf[xref:].split(b"\n")
    count = int(lines[1].split()[1])
    for number, entry in enumerate(lines[3 : 2 + count], start=1):
        offset = int(entry.split()[0])
        assert pdf[offset:].startswith(f"{number} 0 obj".encode())


def test_a_signing_sends_signed_json_callbacks_in_order_that_dealwire_parses(
    sim: Simulator, control: SimulatorControl, api: Api, http: httpx.Client, receiver: Receiver
) -> None:
    info = http.get(f"{sim.url}/oauth/userinfo", headers={"Authorization": f"Bearer {api.token}"}).json()
    assert info["sub"] == USER_ID
    assert info["accounts"] == [
        {
            "account_id": ACCOUNT_ID,
            "is_default": True,
            "account_name": sim.config.account_name,
            "base_uri": sim.url,
        }
    ]
    envelope_id = api.create()
    control.deliver(envelope_id, "1")
    control.sign(envelope_id, "1")
    after_first = api.call("GET", f"envelopes/{envelope_id}", params={"include": "recipients"}).json()
    assert [s["status"] for s in after_first["recipients"]["signers"]] == ["completed", "sent"]
    assert after_first["recipients"]["currentRoutingOrder"] == "2"
    answer = control.sign(envelope_id, "2")

    assert [c["event"] for c in answer["callbacks"]] == [
        "recipient-delivered",
        "envelope-delivered",
        "recipient-completed",
        "envelope-completed",
    ]
    assert receiver.events() == [
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
    generated = []
    for headers, body in receiver.received:
        assert headers["Content-Type"] == "application/json"
        assert verify(body, headers, [HMAC_KEY]).valid
        message = json.loads(body)
        assert (message["apiVersion"], message["retryCount"], message["data"]["accountId"]) == (
            "v2.1",
            0,
            ACCOUNT_ID,
        )
        assert REST_TIME.match(message["generatedDateTime"])
        generated.append(message["generatedDateTime"])
    assert generated == sorted(generated)
    assert len(set(generated)) == len(generated)

    last = parse(*receiver.received[-1])
    assert (last.event, last.envelope.status, last.envelope.deal_id) == (
        "envelope-completed",
        "completed",
        "deal-1001",
    )
    assert [(r.recipient_id, r.status) for r in last.recipients] == [("1", "completed"), ("2", "completed")]
    recipient_completed = parse(*receiver.received[3])
    assert (recipient_completed.recipient_id, recipient_completed.envelope.status) == ("1", "sent")
    assert assert_all_callbacks_answered(control) == 9

    envelope = api.call("GET", f"envelopes/{envelope_id}", params={"include": "recipients,custom_fields"})
    document = envelope.json()
    assert document["status"] == "completed"
    for name in ("createdDateTime", "sentDateTime", "deliveredDateTime", "completedDateTime"):
        assert REST_TIME.match(document[name]), name
    assert document["recipients"]["signers"][1]["routingOrder"] == "2"
    refreshed = parse_envelope_document(document, ACCOUNT_ID)
    assert (refreshed.envelope.status, refreshed.envelope.deal_id) == ("completed", "deal-1001")
    assert int(envelope.headers["X-RateLimit-Remaining"]) < int(envelope.headers["X-RateLimit-Limit"]) == 3000
    assert int(envelope.headers["X-RateLimit-Reset"]) > time.time()


def assert_all_callbacks_answered(control: SimulatorControl) -> int:
    records = control.callbacks()
    assert all(record["status"] == 200 and record["error"] is None for record in records)
    return len(records)


def test_legacy_xml_callbacks_parse_and_carry_the_documents(
    control: SimulatorControl, api: Api, receiver: Receiver
) -> None:
    control.configure(connectFormat="xml", includeDocuments=True)
    envelope_id = api.create()
    control.sign(envelope_id, "1")
    control.sign(envelope_id, "2")

    guids = {s["recipientIdGuid"] for s in control.envelope(envelope_id)["recipients"]["signers"]}
    for headers, body in receiver.received:
        assert headers["Content-Type"] == "text/xml; charset=utf-8"
        assert verify(body, headers, [HMAC_KEY]).valid
        assert {r.recipient_id for r in parse(headers, body).recipients} == guids
    final = parse(*receiver.received[-1])
    assert (final.envelope.status, final.envelope.deal_id) == ("completed", "deal-1001")
    assert {(d.document_id, d.kind) for d in final.documents} == {
        ("1", "content"),
        ("certificate", "summary"),
    }
    for document in final.documents:
        check_pdf(document.pdf_bytes)


def test_documents_are_stable_valid_pdfs_and_downloads_are_counted(
    sim: Simulator, control: SimulatorControl, api: Api
) -> None:
    envelope_id = api.create()
    listed = api.call("GET", f"envelopes/{envelope_id}/documents").json()
    assert listed["envelopeId"] == envelope_id
    assert [(d["documentId"], d["type"], d["order"]) for d in listed["envelopeDocuments"]] == [
        ("1", "content", "1"),
        ("certificate", "summary", "999"),
    ]
    assert listed["envelopeDocuments"][1]["name"] == "Summary"

    fetched = {}
    for document_id in ("1", "certificate", "combined"):
        answer = api.call("GET", f"envelopes/{envelope_id}/documents/{document_id}")
        assert answer.headers["Content-Type"] == "application/pdf"
        check_pdf(answer.content)
        assert answer.content == sim.document_bytes(envelope_id, document_id)
        fetched[document_id] = answer.content
    assert len(set(fetched.values())) == 3
    again = api.call("GET", f"envelopes/{envelope_id}/documents/combined")
    assert again.content == fetched["combined"]
    no_certificate = api.call(
        "GET", f"envelopes/{envelope_id}/documents/combined", params={"certificate": "false"}
    )
    check_pdf(no_certificate.content)
    assert no_certificate.content not in fetched.values()
    assert control.document(envelope_id, "1") == fetched["1"]
    assert sim.download_count(envelope_id, "combined") == 3
    assert sim.download_count(envelope_id, "1") == 1

    control.allow_combined_download(allowed=False)
    refused = api.call("GET", f"envelopes/{envelope_id}/documents/combined")
    assert (refused.status_code, refused.json()["errorCode"]) == (400, "COMBINED_PDF_DOWNLOAD_NOT_ALLOWED")
    assert api.call("GET", f"envelopes/{envelope_id}/documents/1").status_code == 200
    assert sim.download_count(envelope_id, "combined") == 3


def test_rest_documents_say_authoritative_copy_where_connect_says_authoritative(
    control: SimulatorControl, api: Api, receiver: Receiver
) -> None:
    # REST's envelopeDocument model names it authoritativeCopy; Connect's schema (v2) authoritative.
    control.configure(includeDocuments=True)
    envelope_id = api.create()
    listed = api.call("GET", f"envelopes/{envelope_id}/documents").json()["envelopeDocuments"]
    included = api.call("GET", f"envelopes/{envelope_id}", params={"include": "documents"}).json()
    for document in [*listed, *included["envelopeDocuments"]]:
        assert (document["authoritativeCopy"], "authoritative" in document) == ("false", False)
    control.sign(envelope_id, "1")
    control.sign(envelope_id, "2")
    completed = json.loads(receiver.received[-1][1])
    assert completed["event"] == "envelope-completed"
    for document in completed["data"]["envelopeSummary"]["envelopeDocuments"]:
        assert (document["authoritative"], "authoritativeCopy" in document) == ("false", False)


def test_oauth_refuses_as_docusign_does(
    sim: Simulator, control: SimulatorControl, api: Api, http: httpx.Client, private_key: rsa.RSAPrivateKey
) -> None:
    def refusal(signed: str) -> Any:
        answer = grant(http, sim, signed)
        assert answer.status_code == 400
        return answer.json()

    now = int(time.time())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refusal(jwt.encode({"iss": INTEGRATION_KEY}, other_key, algorithm="RS256")) == {
        "error": "invalid_grant",
        "error_description": "no_valid_keys_or_signatures",
    }
    assert refusal(assertion(sim, private_key, iss="someone-else"))["error_description"] == "issuer_not_found"
    assert refusal(assertion(sim, private_key, sub="another-user"))["error_description"] == "user_not_found"
    assert refusal(assertion(sim, private_key, aud="account-d.docusign.com"))["error"] == "invalid_grant"
    assert refusal(assertion(sim, private_key, exp=now + 7200))["error"] == "invalid_grant"
    assert refusal(assertion(sim, private_key, iat=now - 7200, exp=now - 3600))["error"] == "invalid_grant"
    # Impersonation is granted at consent; the assertion need only ask for signature (the SDK's default).
    assert grant(http, sim, assertion(sim, private_key, scope="signature")).status_code == 200
    assert refusal(assertion(sim, private_key, scope=""))["error"] == "invalid_scope"
    assert refusal(assertion(sim, private_key, scope="signature organization_read")) == {
        "error": "consent_required"
    }
    control.set_consent(granted=False)
    assert refusal(assertion(sim, private_key)) == {"error": "consent_required"}
    assert refusal(assertion(sim, private_key, scope="signature")) == {"error": "consent_required"}
    control.set_consent(granted=True)
    assert grant(http, sim, assertion(sim, private_key)).json()["expires_in"] == 3600

    bad = http.get(
        f"{api.base}/envelopes", params={"from_date": "2024-01-01"}, headers={"Authorization": "Bearer x"}
    )
    assert (bad.status_code, bad.json()["errorCode"]) == (401, "AUTHORIZATION_INVALID_TOKEN")
    other_account = http.get(
        api.base.replace(ACCOUNT_ID, "00000000-0000-0000-0000-000000000000") + "/envelopes",
        params={"from_date": "2024-01-01"},
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert (other_account.status_code, other_account.json()["errorCode"]) == (
        400,
        "ACCOUNT_LACKS_PERMISSIONS",
    )
    assert api.call("GET", "envelopes", params={"from_date": "2024-01-01"}).status_code == 200
    assert control.expire_tokens() >= 1
    assert api.call("GET", "envelopes", params={"from_date": "2024-01-01"}).status_code == 401


def test_faults_rate_limits_and_refusals(sim: Simulator, control: SimulatorControl, api: Api) -> None:
    def listing() -> httpx.Response:
        return api.call("GET", "envelopes", params={"from_date": "2024-01-01"})

    control.add_fault("429", count=2, retry_after=7)
    for _ in range(2):
        limited = listing()
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
        assert "X-RateLimit-Remaining" in limited.headers
    assert listing().status_code == 200

    control.add_fault("503", path_prefix=f"/restapi/v2.1/accounts/{ACCOUNT_ID}/envelopes/")
    assert listing().status_code == 200  # the prefix does not match the list
    envelope_id = api.create()
    unavailable = api.call("GET", f"envelopes/{envelope_id}")
    assert (unavailable.status_code, unavailable.json()["errorCode"]) == (503, "SERVICE_UNAVAILABLE")
    control.add_fault("500")
    assert api.call("GET", f"envelopes/{envelope_id}").json()["errorCode"] == "UNSPECIFIED_ERROR"

    control.add_fault("delay", delay=0.3)
    started = time.monotonic()
    assert api.call("GET", f"envelopes/{envelope_id}").status_code == 200
    assert time.monotonic() - started >= 0.3

    control.add_fault("hourly_limit")
    hourly = listing()
    assert (hourly.status_code, hourly.json()["errorCode"]) == (429, "HOURLY_APIINVOCATION_LIMIT_EXCEEDED")
    assert hourly.headers["X-RateLimit-Remaining"] == "0"
    assert control.faults() == []

    unknown = api.call("POST", "envelopes", json={"templateId": "tpl-missing", "status": "sent"})
    assert (unknown.status_code, unknown.json()["errorCode"]) == (400, "TEMPLATE_ID_INVALID")
    control.configure(rateLimit=1)
    exhausted = listing()
    assert exhausted.json()["errorCode"] == "HOURLY_APIINVOCATION_LIMIT_EXCEEDED"


class FakeClock:
    """The simulator's limits' time, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


TOP_OF_AN_HOUR = 1_780_002_000  # a Unix time on the hour


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TOP_OF_AN_HOUR + 3590)  # 10 s before the next hour


@pytest.fixture
def timed(public_pem: bytes, clock: FakeClock) -> Any:
    with Simulator(
        account_id=ACCOUNT_ID,
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
        public_key_pem=public_pem,
        clock=clock,
    ) as simulator:
        yield simulator


def test_the_hourly_budget_is_per_clock_hour_and_refused_as_docusign_refuses_it(
    timed: Simulator, clock: FakeClock, http: httpx.Client, private_key: rsa.RSAPrivateKey
) -> None:
    api, control = Api(http, timed, private_key), SimulatorControl(timed.url)
    control.configure(rateLimit=2)

    def listing() -> httpx.Response:
        return api.call("GET", "envelopes", params={"from_date": "2024-01-01"})

    next_hour = str(TOP_OF_AN_HOUR + 3600)
    assert [
        (a.headers["X-RateLimit-Remaining"], a.headers["X-RateLimit-Reset"]) for a in (listing(), listing())
    ] == [
        ("1", next_hour),
        ("0", next_hour),
    ]
    for status in (400, 429):  # DocuSign's long-standing answer, and the one it is moving to
        control.configure(rateLimitStatus=status)
        refused = listing()
        assert (refused.status_code, refused.json()["errorCode"]) == (
            status,
            "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
        )
        assert refused.json()["message"].endswith("The hourly limit is 2.")
        assert (refused.headers["X-RateLimit-Remaining"], refused.headers["X-RateLimit-Reset"]) == (
            "0",
            next_hour,
        )
        assert "Retry-After" not in refused.headers  # DocuSign's answer points at X-RateLimit-Reset
    clock.now = TOP_OF_AN_HOUR + 3600  # the top of the hour: a new budget
    again = listing()
    assert (again.status_code, again.headers["X-RateLimit-Remaining"]) == (200, "1")
    assert again.headers["X-RateLimit-Reset"] == str(TOP_OF_AN_HOUR + 7200)


def test_the_burst_window_is_thirty_seconds_with_docusigns_headers(
    timed: Simulator, clock: FakeClock, http: httpx.Client, private_key: rsa.RSAPrivateKey
) -> None:
    api, control = Api(http, timed, private_key), SimulatorControl(timed.url)

    def listing() -> httpx.Response:
        return api.call("GET", "envelopes", params={"from_date": "2024-01-01"})

    first = listing()
    assert (first.headers["X-BurstLimit-Limit"], first.headers["X-BurstLimit-Remaining"]) == ("500", "499")
    clock.now = TOP_OF_AN_HOUR + 3600 + 1  # a new 30-second window (and hour)
    control.configure(burstLimit=2)
    assert [listing().headers["X-BurstLimit-Remaining"] for _ in range(2)] == ["1", "0"]
    refused = listing()
    assert (refused.status_code, refused.json()["errorCode"]) == (429, "BURST_APIINVOCATION_LIMIT_EXCEEDED")
    assert refused.headers["X-BurstLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Remaining"] == "2998"  # a refused call spends nothing
    control.configure(rateLimitStatus=429)
    assert listing().status_code == 429
    clock.now += 30
    assert listing().headers["X-BurstLimit-Remaining"] == "1"


def test_the_hourly_limit_fault_answers_as_the_real_limit_does(control: SimulatorControl, api: Api) -> None:
    control.add_fault("hourly_limit")
    hourly = api.call("GET", "envelopes", params={"from_date": "2024-01-01"})
    assert (hourly.status_code, hourly.headers["X-RateLimit-Remaining"]) == (429, "0")
    assert "Retry-After" not in hourly.headers
    control.configure(rateLimitStatus=429)
    control.add_fault("hourly_limit", retry_after=60)  # a Retry-After only when asked for
    told = api.call("GET", "envelopes", params={"from_date": "2024-01-01"})
    assert (told.status_code, told.headers["Retry-After"]) == (429, "60")


def test_envelope_polling_is_limited_per_envelope_when_enforced(
    timed: Simulator, clock: FakeClock, http: httpx.Client, private_key: rsa.RSAPrivateKey
) -> None:
    api, control = Api(http, timed, private_key), SimulatorControl(timed.url)
    first, second = api.create(), api.create()
    assert [api.call("GET", f"envelopes/{first}").status_code for _ in range(3)] == [200, 200, 200]  # off

    control.configure(envelopePolling=True)  # DocuSign's rule: one GET per envelope per 15 minutes
    assert api.call("GET", f"envelopes/{first}").status_code == 200
    for path in (
        f"envelopes/{first}",
        f"envelopes/{first}/recipients",
        f"envelopes/{first}/documents/combined",
    ):
        refused = api.call("GET", path)
        assert (refused.status_code, refused.json()["errorCode"]) == (
            429,
            "HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED",
        )
        assert "X-RateLimit-Remaining" in refused.headers
    assert api.call("GET", f"envelopes/{second}/documents").status_code == 200  # another envelope
    listed = api.call("GET", "envelopes", params={"from_date": "2024-01-01"})
    assert listed.status_code == 200  # listStatusChanges by date is how DocuSign wants envelopes polled
    assert (
        api.call("PUT", f"envelopes/{first}", json={"status": "voided", "voidedReason": "x"}).status_code
        == 200
    )

    control.configure(rateLimitStatus=429)
    assert api.call("GET", f"envelopes/{first}").status_code == 429
    clock.now += 900
    assert api.call("GET", f"envelopes/{first}").status_code == 200
    control.configure(envelopePollingLimit=2, envelopePollingWindow=60)
    assert api.call("GET", f"envelopes/{first}").status_code == 200
    assert api.call("GET", f"envelopes/{first}").status_code == 429


def test_list_status_changes_filters_and_pages(api: Api, control: SimulatorControl) -> None:
    before = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    first, second, third = api.create(), api.create(), api.create(status="created")
    control.sign(first, "1")  # a recipient's step counts as a change

    page = api.call("GET", "envelopes", params={"from_date": before, "count": "2"}).json()
    assert (page["resultSetSize"], page["totalSetSize"], page["startPosition"], page["endPosition"]) == (
        "2",
        "3",
        "0",
        "1",
    )
    assert [e["envelopeId"] for e in page["envelopes"]] == [second, third]
    rest = api.call("GET", page["nextUri"].removeprefix("/")).json()
    assert [e["envelopeId"] for e in rest["envelopes"]] == [first]
    assert "nextUri" not in rest

    sent = api.call("GET", "envelopes", params={"from_date": before, "status": "sent"}).json()
    assert {e["envelopeId"] for e in sent["envelopes"]} == {first, second}
    chosen = api.call(
        "GET", "envelopes", params={"envelope_ids": f"{first},{third}", "include": "recipients"}
    )
    assert {e["envelopeId"]: e["recipients"]["signers"][0]["status"] for e in chosen.json()["envelopes"]} == {
        first: "completed",
        third: "created",
    }
    later = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    assert api.call("GET", "envelopes", params={"from_date": later}).json()["totalSetSize"] == "0"
    missing = api.call("GET", "envelopes")
    assert (missing.status_code, missing.json()["errorCode"]) == (400, "INVALID_REQUEST_PARAMETER")


@pytest.mark.parametrize(
    "form",
    ["%Y-%m-%d", "%Y-%m-%dT%H:%M%z", "%Y/%m/%d", "%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p"],
)
def test_list_status_changes_takes_the_date_forms_docusign_takes(api: Api, form: str) -> None:
    # DocuSign parses from_date and to_date as .NET's DateTime.Parse does; no zone is the server's (UTC here).
    envelope_id = api.create()
    now = datetime.now(UTC)

    def changed(**dates: datetime) -> list[str]:
        params = {name: moment.strftime(form) for name, moment in dates.items()}
        answer = api.call("GET", "envelopes", params=params)
        assert answer.status_code == 200, answer.text
        return [e["envelopeId"] for e in answer.json()["envelopes"]]

    yesterday, tomorrow = now - timedelta(days=1), now + timedelta(days=1)
    assert changed(from_date=yesterday, to_date=tomorrow) == [envelope_id]
    assert changed(from_date=tomorrow) == []
    assert changed(from_date=yesterday - timedelta(days=1), to_date=yesterday) == []


def test_list_status_changes_refuses_a_date_it_cannot_read(api: Api) -> None:
    for text in ("31/12/2024", "2024-13-01", "yesterday"):
        refused = api.call("GET", "envelopes", params={"from_date": text})
        assert (refused.status_code, refused.json()["errorCode"]) == (400, "INVALID_REQUEST_PARAMETER")


def test_void_decline_and_failed_callbacks(api: Api, control: SimulatorControl, receiver: Receiver) -> None:
    voided_id = api.create()
    answer = api.call("PUT", f"envelopes/{voided_id}", json={"status": "voided", "voidedReason": "Deal lost"})
    assert (answer.status_code, answer.json()) == (200, {"envelopeId": voided_id})
    voided = parse(*receiver.received[-1])
    assert (voided.event, voided.envelope.status, voided.envelope.voided_reason) == (
        "envelope-voided",
        "voided",
        "Deal lost",
    )
    again = api.call("PUT", f"envelopes/{voided_id}", json={"status": "voided", "voidedReason": "twice"})
    assert (again.status_code, again.json()["errorCode"]) == (400, "ENVELOPE_CANNOT_VOID_INVALID_STATE")

    receiver.status = 500
    declined_id = api.create()
    control.sign(declined_id, "1")
    events = [c["event"] for c in control.decline(declined_id, "2", "Price is wrong")["callbacks"]]
    assert events == ["recipient-delivered", "envelope-delivered", "recipient-declined", "envelope-declined"]
    declined = parse(*receiver.received[-2])
    assert (declined.event, declined.envelope.status) == ("recipient-declined", "declined")
    assert [r.decline_reason for r in declined.recipients] == [None, "Price is wrong"]
    assert control.callbacks()[-1]["status"] == 500
    with pytest.raises(SimulatorControlError) as refused:
        control.sign(declined_id, "2")
    assert refused.value.status == 409

    control.configure(webhookUrl=None)
    draft = api.create(status="created")
    assert api.call("PUT", f"envelopes/{draft}", json={"status": "sent"}).status_code == 200
    assert control.callbacks()[-1]["error"].startswith("no webhook URL")


def test_command_line_serves_on_loopback(public_pem: bytes, tmp_path: Path) -> None:
    key_file = tmp_path / "public.pem"
    key_file.write_bytes(public_pem)
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "infra.docusign_sim",
            "--port",
            "0",
            "--account-id",
            ACCOUNT_ID,
            "--integration-key",
            INTEGRATION_KEY,
            "--user-id",
            USER_ID,
            "--public-key-file",
            str(key_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        assert url is not None
        health = SimulatorControl(url[0])._json("GET", "health")
        assert health["accountId"] == ACCOUNT_ID
        assert [t["templateId"] for t in SimulatorControl(url[0]).templates()] == ["tpl-nda"]
    finally:
        process.terminate()
        process.wait(timeout=10)
