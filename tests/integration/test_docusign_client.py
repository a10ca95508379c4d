"""The DocuSign client against the simulator: JWT grant, calls, and its resilience to faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import serialization

from dealwire.docusign import client as client_module
from dealwire.docusign.client import DocuSignApp, DocuSignClient, TemplateRole
from dealwire.docusign.errors import (
    COMBINED_PDF_DOWNLOAD_NOT_ALLOWED,
    ConsentRequired,
    DocuSignError,
    DocuSignUnavailable,
    RateLimitExceeded,
)
from infra.docusign_sim import Simulator, SimulatorControl
from tests.docusign_support import INTEGRATION_KEY, USER_ID, new_private_key, simulator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cryptography.hazmat.primitives.asymmetric import rsa

ACCOUNT_ID = "9f1c2a7e-3b4d-4c5e-8f6a-1b2c3d4e5f60"
ROLES = [
    TemplateRole(role_name="Signer 1", name="Alice Buyer", email="alice@example.com"),
    TemplateRole(role_name="Signer 2", name="Bob Seller", email="bob@example.com"),
]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_private_key()


@pytest.fixture
def sim(key: rsa.RSAPrivateKey) -> Iterator[Simulator]:
    with simulator(key) as started:
        yield started
    client_module._TOKENS.clear()


@pytest.fixture
def control(sim: Simulator) -> SimulatorControl:
    return SimulatorControl(sim.url)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def make_client(sim: Simulator, key: rsa.RSAPrivateKey, sleeps: Sleeps, **options: object) -> DocuSignClient:
    app = DocuSignApp(
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
        private_key_pem=private_pem(key),
        auth_host=sim.url,
        account_id=ACCOUNT_ID,
    )
    return DocuSignClient(app, sleep=sleeps, jitter=lambda: 0.5, **options)  # type: ignore[arg-type]


@pytest.fixture
def docusign(sim: Simulator, key: rsa.RSAPrivateKey, sleeps: Sleeps) -> DocuSignClient:
    return make_client(sim, key, sleeps)


def test_create_read_sign_and_download(
    docusign: DocuSignClient, sim: Simulator, control: SimulatorControl
) -> None:
    created = docusign.create_envelope_from_template(
        template_id="tpl-nda",
        roles=ROLES,
        email_subject="Deal 1001",
        text_custom_fields={"dealwire_deal_id": "d-1"},
    )
    assert created.status == "sent"
    envelope = docusign.get_envelope(created.envelope_id)
    assert [s["email"] for s in envelope["recipients"]["signers"]] == ["alice@example.com", "bob@example.com"]
    for recipient in ("1", "2"):
        control.sign(created.envelope_id, recipient)
    assert docusign.get_envelope(created.envelope_id)["status"] == "completed"
    with docusign.open_document(created.envelope_id, "combined", certificate=False) as stream:
        assert stream.content_type.startswith("application/pdf")
        combined = b"".join(stream.iter_bytes(1024))
    assert combined == sim.document_bytes(created.envelope_id, "combined", certificate=False)
    ids = {d["documentId"] for d in docusign.list_documents(created.envelope_id)}
    assert {"1", "certificate"} <= ids
    assert docusign.rate_limit.remaining is not None
    assert docusign.rate_limit.limit is not None


def test_the_token_is_granted_once_and_reused(docusign: DocuSignClient) -> None:
    docusign.list_documents(
        docusign.create_envelope_from_template(template_id="tpl-nda", roles=ROLES).envelope_id
    )
    before = docusign.requests
    docusign.list_status_changes(from_date=datetime.now(UTC) - timedelta(days=1))
    assert docusign.requests == before + 1  # no new token, no new userinfo


def test_an_expired_token_is_replaced_once(docusign: DocuSignClient, control: SimulatorControl) -> None:
    created = docusign.create_envelope_from_template(template_id="tpl-nda", roles=ROLES)
    control.expire_tokens()
    assert docusign.get_envelope(created.envelope_id)["envelopeId"] == created.envelope_id


def test_consent_required_names_the_url_to_open(docusign: DocuSignClient, control: SimulatorControl) -> None:
    control.set_consent(granted=False)
    with pytest.raises(ConsentRequired) as refused:
        docusign.list_status_changes(from_date=datetime.now(UTC))
    assert "/oauth/auth?response_type=code" in str(refused.value)
    assert INTEGRATION_KEY in refused.value.consent_url


def test_429_waits_as_told_then_succeeds(
    docusign: DocuSignClient, control: SimulatorControl, sleeps: Sleeps
) -> None:
    docusign.list_status_changes(from_date=datetime.now(UTC))  # token first
    control.add_fault(kind="429", count=2, retry_after=3)
    docusign.list_status_changes(from_date=datetime.now(UTC))
    assert sleeps == [3.0, 3.0]


def test_5xx_retries_as_told_then_gives_up(
    sim: Simulator, key: rsa.RSAPrivateKey, control: SimulatorControl, sleeps: Sleeps
) -> None:
    docusign = make_client(sim, key, sleeps, max_attempts=3)
    docusign.list_status_changes(from_date=datetime.now(UTC))
    control.add_fault(kind="503", count=5)
    with pytest.raises(DocuSignUnavailable):
        docusign.list_status_changes(from_date=datetime.now(UTC))
    assert sleeps == [1.0, 1.0]  # the simulator's Retry-After; two waits for three attempts


def test_a_4xx_that_will_not_change_is_not_retried(docusign: DocuSignClient, sleeps: Sleeps) -> None:
    with pytest.raises(DocuSignError) as refused:
        docusign.create_envelope_from_template(template_id="no-such-template", roles=ROLES)
    assert refused.value.error_code == "TEMPLATE_ID_INVALID"
    assert sleeps == []


def test_combined_download_not_allowed_is_recognisable(
    docusign: DocuSignClient, control: SimulatorControl
) -> None:
    created = docusign.create_envelope_from_template(template_id="tpl-nda", roles=ROLES)
    control.allow_combined_download(allowed=False)
    with pytest.raises(DocuSignError) as refused, docusign.open_document(created.envelope_id, "combined"):
        pass
    assert refused.value.error_code == COMBINED_PDF_DOWNLOAD_NOT_ALLOWED


@pytest.mark.parametrize("status", [400, 429])
def test_the_hourly_limit_is_waited_out_when_near_and_raised_when_far(
    sim: Simulator, key: rsa.RSAPrivateKey, control: SimulatorControl, sleeps: Sleeps, status: int
) -> None:
    control.configure(rateLimitStatus=status)
    docusign = make_client(sim, key, sleeps, max_rate_limit_wait=7200)
    docusign.list_status_changes(from_date=datetime.now(UTC))
    control.add_fault(kind="hourly_limit", count=1)
    docusign.list_status_changes(from_date=datetime.now(UTC))
    assert len(sleeps) == 1
    strict = make_client(sim, key, sleeps, max_rate_limit_wait=0)
    control.add_fault(kind="hourly_limit", count=1)
    with pytest.raises(RateLimitExceeded) as refused:
        strict.list_status_changes(from_date=datetime.now(UTC))
    assert refused.value.reset_at is not None
    assert refused.value.reset_at.timestamp() % 3600 == 0  # the top of the next hour
    assert len(sleeps) == 1


def test_list_status_changes_batches_envelope_ids_by_100(docusign: DocuSignClient) -> None:
    ids = [
        docusign.create_envelope_from_template(template_id="tpl-nda", roles=ROLES).envelope_id
        for _ in range(3)
    ]
    before = docusign.requests
    found = docusign.list_status_changes(
        from_date=datetime.now(UTC) - timedelta(days=1), envelope_ids=ids + [f"x-{i}" for i in range(200)]
    )
    assert {e["envelopeId"] for e in found} == set(ids)
    assert docusign.requests - before == 3


def test_void(docusign: DocuSignClient) -> None:
    created = docusign.create_envelope_from_template(template_id="tpl-nda", roles=ROLES)
    docusign.void_envelope(created.envelope_id, "Wrong price")
    envelope = docusign.get_envelope(created.envelope_id)
    assert (envelope["status"], envelope["voidedReason"]) == ("voided", "Wrong price")


def test_connection_errors_and_timeouts_are_retried(key: rsa.RSAPrivateKey, sleeps: Sleeps) -> None:
    app = DocuSignApp(
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
        private_key_pem=private_pem(key),
        auth_host="account-d.docusign.com",
        account_id=ACCOUNT_ID,
        base_uri="https://demo.docusign.net/restapi",
    )
    with respx.mock(assert_all_called=True) as router:
        token = router.post("https://account-d.docusign.com/oauth/token").mock(
            side_effect=[
                httpx.ConnectTimeout("slow"),
                httpx.Response(200, json={"access_token": "t", "expires_in": 3600}),
            ]
        )
        documents = router.get(
            f"https://demo.docusign.net/restapi/v2.1/accounts/{ACCOUNT_ID}/envelopes/e/documents"
        ).mock(side_effect=[httpx.ConnectError("reset"), httpx.Response(200, json={"envelopeDocuments": []})])
        assert DocuSignClient(app, sleep=sleeps, jitter=lambda: 1.0).list_documents("e") == []
    assert token.call_count == 2
    assert documents.call_count == 2
    assert sleeps == [0.5, 0.5]  # full jitter (1.0 here) of the first backoff step, 0.5 s
    client_module._TOKENS.clear()


# -- the hourly limit, bursts and the invocation's deadline (respx, a clock that sleeps) --------------

DEMO_API = f"https://demo.docusign.net/restapi/v2.1/accounts/{ACCOUNT_ID}"
HOURLY_BODY = {
    "errorCode": "HOURLY_APIINVOCATION_LIMIT_EXCEEDED",
    "message": "The maximum number of hourly API invocations has been exceeded. The hourly limit is 3000.",
}
BURST_BODY = {
    "errorCode": "BURST_APIINVOCATION_LIMIT_EXCEEDED",
    "message": "The maximum number of burst API invocations has been exceeded.",
}


class Clock:
    """Time that passes only when the client sleeps; every sleep is recorded."""

    def __init__(self, now: float = 1_780_002_000.0) -> None:  # on the hour
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds

    def remaining(self, seconds: float) -> Callable[[], float]:
        """What a Lambda context's remaining time would say, ``seconds`` from now."""
        end = self.now + seconds
        return lambda: end - self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def demo(key: rsa.RSAPrivateKey, clock: Clock) -> Iterator[DocuSignClient]:
    app = DocuSignApp(
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
        private_key_pem=private_pem(key),
        auth_host="account-d.docusign.com",
        account_id=ACCOUNT_ID,
        base_uri="https://demo.docusign.net/restapi",
    )
    yield DocuSignClient(app, clock=clock, sleep=clock.sleep, jitter=lambda: 1.0)
    client_module._TOKENS.clear()


@pytest.fixture
def docusign_api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.post("https://account-d.docusign.com/oauth/token").mock(
            return_value=httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        )
        yield router


def limit_headers(
    clock: Clock, *, remaining: int, burst_remaining: int = 499, **extra: str
) -> dict[str, str]:
    top_of_next_hour = (int(clock.now) // 3600 + 1) * 3600
    return {
        "X-RateLimit-Limit": "3000",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(top_of_next_hour),
        "X-BurstLimit-Limit": "500",
        "X-BurstLimit-Remaining": str(burst_remaining),
        **extra,
    }


@pytest.mark.parametrize("status", [400, 429])
def test_the_hourly_limit_raises_the_rate_limit_error_at_once_whether_400_or_429(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock, status: int
) -> None:
    # The probe's answer: the hourly limit, with a Retry-After of half an hour.
    clock.now = 1_780_004_000.0  # 33 min 20 s into the hour
    documents = docusign_api.get(f"{DEMO_API}/envelopes/e/documents").mock(
        return_value=httpx.Response(
            status, json=HOURLY_BODY, headers=limit_headers(clock, remaining=0, **{"Retry-After": "1800"})
        )
    )
    with pytest.raises(RateLimitExceeded) as refused:
        demo.list_documents("e")
    assert refused.value.reset_at == datetime.fromtimestamp(1_780_005_600, UTC)
    assert refused.value.status == status
    assert documents.call_count == 1
    assert clock.sleeps == []


def test_a_429_with_the_hourly_budget_at_zero_is_the_hourly_limit_whatever_its_body(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock
) -> None:
    docusign_api.get(f"{DEMO_API}/envelopes/e/documents").mock(
        return_value=httpx.Response(429, text="Too Many Requests", headers=limit_headers(clock, remaining=0))
    )
    with pytest.raises(RateLimitExceeded) as refused:
        demo.list_documents("e")
    assert refused.value.reset_at is not None
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [400, 429])
def test_the_hourly_limit_is_waited_out_only_when_its_reset_fits_the_invocation(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock, status: int
) -> None:
    clock.now = 1_780_005_570.0  # 30 s before the top of the hour
    headers = limit_headers(clock, remaining=0)
    docusign_api.get(f"{DEMO_API}/envelopes/e/documents").mock(
        side_effect=[
            httpx.Response(status, json=HOURLY_BODY, headers=headers),
            httpx.Response(200, json={"envelopeDocuments": []}),
            httpx.Response(status, json=HOURLY_BODY, headers=headers),
        ]
    )
    with demo.deadline(clock.remaining(120)):
        assert demo.list_documents("e") == []
    assert clock.sleeps == [31.0]  # to the reset, and a second more
    clock.now = 1_780_005_570.0
    with demo.deadline(clock.remaining(20)), pytest.raises(RateLimitExceeded) as refused:
        demo.list_documents("e")
    assert refused.value.reset_at == datetime.fromtimestamp(1_780_005_600, UTC)
    assert clock.sleeps == [31.0]


def test_bursts_are_retried_as_told_but_never_past_the_deadline(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock
) -> None:
    burst = httpx.Response(
        429,
        json=BURST_BODY,
        headers=limit_headers(clock, remaining=2000, burst_remaining=0, **{"Retry-After": "5"}),
    )
    documents = docusign_api.get(f"{DEMO_API}/envelopes/e/documents").mock(return_value=burst)
    with demo.deadline(clock.remaining(12)), pytest.raises(DocuSignUnavailable) as refused:
        demo.list_documents("e")
    assert refused.value.error_code == "BURST_APIINVOCATION_LIMIT_EXCEEDED"
    assert clock.sleeps == [5.0, 5.0]  # a third wait would end 3 s past the deadline
    assert documents.call_count == 3


def test_a_long_retry_after_is_not_slept_on(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock
) -> None:
    docusign_api.get(f"{DEMO_API}/envelopes/e/documents").mock(
        return_value=httpx.Response(429, json=BURST_BODY, headers={"Retry-After": "1800"})
    )
    with pytest.raises(DocuSignUnavailable):
        demo.list_documents("e")
    assert clock.sleeps == []


def test_5xx_backoff_stops_at_the_deadline(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock
) -> None:
    docusign_api.get(f"{DEMO_API}/envelopes/e/documents").mock(return_value=httpx.Response(503))
    with demo.deadline(clock.remaining(3)), pytest.raises(DocuSignUnavailable):
        demo.list_documents("e")
    assert clock.sleeps == [0.5, 1.0]  # full jitter (1.0 here) of 0.5 s, 1 s; 2 s would not fit


def test_the_deadline_belongs_to_one_invocation(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock
) -> None:
    docusign_api.get(f"{DEMO_API}/envelopes/e/documents").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(503),
            httpx.Response(200, json={"envelopeDocuments": []}),
        ]
    )
    with demo.deadline(clock.remaining(0.2)), pytest.raises(DocuSignUnavailable):
        demo.list_documents("e")
    assert clock.sleeps == []
    assert demo.list_documents("e") == []  # the next invocation, with no deadline of its own
    assert clock.sleeps == [0.5]


def test_no_request_starts_once_the_deadline_has_passed(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock
) -> None:
    documents = docusign_api.get(f"{DEMO_API}/envelopes/e/documents")
    with demo.deadline(lambda: 0.0), pytest.raises(DocuSignUnavailable):
        demo.list_documents("e")
    assert documents.call_count == 0


@pytest.mark.parametrize("status", [400, 429])
def test_a_download_refused_by_the_hourly_limit_raises_the_rate_limit_error(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock, status: int
) -> None:
    download = docusign_api.get(f"{DEMO_API}/envelopes/e/documents/combined").mock(
        return_value=httpx.Response(status, json=HOURLY_BODY, headers=limit_headers(clock, remaining=0))
    )
    with pytest.raises(RateLimitExceeded) as refused, demo.open_document("e", "combined"):
        pass
    assert refused.value.reset_at is not None
    assert download.call_count == 1
    assert clock.sleeps == []


def test_a_download_retries_a_burst_within_the_deadline(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock
) -> None:
    docusign_api.get(f"{DEMO_API}/envelopes/e/documents/combined").mock(
        side_effect=[
            httpx.Response(429, json=BURST_BODY, headers={"Retry-After": "2"}),
            httpx.Response(200, content=b"%PDF-1.4 ...", headers={"Content-Type": "application/pdf"}),
        ]
    )
    with demo.deadline(clock.remaining(10)), demo.open_document("e", "combined") as stream:
        assert b"".join(stream.iter_bytes()) == b"%PDF-1.4 ..."
    assert clock.sleeps == [2.0]


@pytest.mark.parametrize("status", [400, 429])
def test_the_envelope_polling_limit_is_not_retried(
    demo: DocuSignClient, docusign_api: respx.MockRouter, clock: Clock, status: int
) -> None:
    envelope = docusign_api.get(f"{DEMO_API}/envelopes/e").mock(
        return_value=httpx.Response(
            status,
            json={"errorCode": "HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED", "message": "polled too often"},
            headers=limit_headers(clock, remaining=2500),
        )
    )
    with pytest.raises(DocuSignError) as refused:
        demo.get_envelope("e")
    assert refused.value.error_code == "HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED"
    assert not isinstance(refused.value, RateLimitExceeded | DocuSignUnavailable)
    assert envelope.call_count == 1
    assert clock.sleeps == []


def test_a_changes_page_without_its_set_size_is_followed_by_its_next_uri(
    demo: DocuSignClient, docusign_api: respx.MockRouter
) -> None:
    docusign_api.get(f"{DEMO_API}/envelopes").mock(
        side_effect=[
            httpx.Response(
                200, json={"envelopes": [{"envelopeId": "a"}], "nextUri": "/envelopes?start_position=1"}
            ),
            httpx.Response(200, json={"envelopes": [{"envelopeId": "b"}]}),
        ]
    )
    first = demo.status_changes_page(from_date=datetime.now(UTC), start=0, count=1)
    assert (first.total, first.more) == (2, True)  # at least one more
    last = demo.status_changes_page(from_date=datetime.now(UTC), start=1, count=1)
    assert (last.total, last.more) == (2, False)
