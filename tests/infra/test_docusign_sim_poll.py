"""infra/docusign_sim for the status poller: lost callbacks, the retry queue, counted calls, benches."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from infra.docusign_sim import Simulator, SimulatorControl, SimulatorControlError
from infra.docusign_sim.request_log import MAX_KEPT, RequestLog
from tests.docusign_support import closed_port_url, new_private_key, simulator
from tests.infra.test_docusign_sim import HMAC_KEY, Api, Receiver
from tests.support import ACCOUNT_ID

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cryptography.hazmat.primitives.asymmetric import rsa

ENVELOPES = f"/restapi/v2.1/accounts/{ACCOUNT_ID}/envelopes"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_private_key()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def sim(key: rsa.RSAPrivateKey, receiver: Receiver) -> Iterator[Simulator]:
    with simulator(key, webhook_url=receiver.url, hmac_keys=[HMAC_KEY]) as started:
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


@pytest.fixture
def again(http: httpx.Client, sim: Simulator, key: rsa.RSAPrivateKey) -> Callable[[], Api]:
    """A new REST client, for after ``reset`` (which expires every token)."""
    return lambda: Api(http, sim, key)


def calls(control: SimulatorControl) -> list[tuple[str, str, int, str | None]]:
    return [(r["method"], r["path"], r["status"], r["errorCode"]) for r in control.requests()]


# --- the request log ---------------------------------------------------------------------


def test_every_rest_and_oauth_request_is_logged_and_control_calls_are_not(
    api: Api, control: SimulatorControl, http: httpx.Client, sim: Simulator
) -> None:
    (token,) = control.requests()  # the Api fixture's JWT grant
    assert (token["method"], token["path"], token["status"], token["errorCode"]) == (
        "POST",
        "/oauth/token",
        200,
        None,
    )
    assert token["query"] == {}
    assert token["at"].endswith("Z")
    control.clear_requests()
    control.envelopes()  # /_sim/ calls are not DocuSign's

    envelope_id = api.create()
    api.call("GET", "envelopes", params={"from_date": "2024-01-01", "status": "sent"})
    api.call("GET", "envelopes/00000000-0000-0000-0000-000000000000")
    http.get(f"{sim.url}/oauth/userinfo")
    control.add_fault("503")
    api.call("GET", f"envelopes/{envelope_id}")

    assert calls(control) == [
        ("POST", ENVELOPES, 201, None),
        ("GET", ENVELOPES, 200, None),
        ("GET", f"{ENVELOPES}/00000000-0000-0000-0000-000000000000", 404, "ENVELOPE_DOES_NOT_EXIST"),
        ("GET", "/oauth/userinfo", 401, "invalid_token"),  # OAuth's refusals say "error"
        ("GET", f"{ENVELOPES}/{envelope_id}", 503, "SERVICE_UNAVAILABLE"),  # faults are answers too
    ]
    assert control.requests()[1]["query"] == {"from_date": "2024-01-01", "status": "sent"}

    control.clear_requests()
    assert control.requests() == []
    api.call("GET", "envelopes", params={"from_date": "2024-01-01"})
    control.reset()
    assert control.requests() == []


def test_the_request_log_keeps_the_newest_hundred_thousand() -> None:
    assert MAX_KEPT == 100_000
    log = RequestLog(limit=2)
    for n in range(3):
        log.add("GET", f"/restapi/{n}", {}, 200, None)
    assert [e["path"] for e in log.entries()] == ["/restapi/1", "/restapi/2"]


def test_a_dropped_answer_is_logged_as_served(api: Api, control: SimulatorControl) -> None:
    control.clear_requests()
    control.add_fault("drop_response")
    with pytest.raises(httpx.RemoteProtocolError):
        api.create()
    assert calls(control) == [("POST", ENVELOPES, 201, None)]


# --- Connect off -------------------------------------------------------------------------


def outcomes(control: SimulatorControl) -> list[tuple[str, str]]:
    return [(c["event"], c["outcome"]) for c in control.callbacks()]


def test_connect_off_for_the_account_sends_nothing_and_logs_no_failure(
    api: Api, control: SimulatorControl, receiver: Receiver
) -> None:
    receiver.status = 500  # were anything sent, it would fail and be in the failure log
    assert control.connect_off() == {"connectOff": True, "connectOffEnvelopes": []}
    assert (control.config()["connectOff"], control.config()["connectOffEnvelopes"]) == (True, [])
    envelope_id = api.create()
    control.sign(envelope_id, "1")

    assert receiver.received == []
    assert outcomes(control) == [
        ("envelope-sent", "not_sent"),
        ("recipient-sent", "not_sent"),
        ("recipient-delivered", "not_sent"),
        ("recipient-completed", "not_sent"),
        ("recipient-sent", "not_sent"),
    ]
    assert all(c["url"] is None and c["error"].startswith("connect off") for c in control.callbacks())
    assert control.failures() == []  # DocuSign never tried

    assert control.connect_on() == {"connectOff": False, "connectOffEnvelopes": []}
    receiver.status = 200
    control.clear_callbacks()
    control.sign(envelope_id, "2")
    assert receiver.events() == [
        "recipient-delivered",
        "envelope-delivered",
        "recipient-completed",
        "envelope-completed",
    ]
    assert {c["outcome"] for c in control.callbacks()} == {"delivered"}


def test_connect_off_for_some_envelopes_leaves_the_others_alone(
    api: Api, control: SimulatorControl, receiver: Receiver
) -> None:
    quiet, loud = api.create(), api.create()
    receiver.received.clear()
    assert control.connect_off([quiet]) == {"connectOff": False, "connectOffEnvelopes": [quiet]}
    control.sign(quiet, "1")
    control.sign(loud, "1")
    assert {parse_id(body) for _, body in receiver.received} == {loud}
    assert control.failures() == []

    control.connect_off()  # the account's off holds over an envelope's on
    control.connect_on([quiet])
    assert control.config()["connectOffEnvelopes"] == []
    control.sign(quiet, "2")
    assert {parse_id(body) for _, body in receiver.received} == {loud}

    control.connect_off([loud])
    assert control.connect_on() == {"connectOff": False, "connectOffEnvelopes": []}  # on clears them all
    control.connect_off([quiet, loud])
    control.reset()  # reset turns Connect on
    assert (control.config()["connectOff"], control.config()["connectOffEnvelopes"]) == (False, [])


def test_connect_off_refuses_an_unknown_envelope_and_a_body_it_cannot_read(control: SimulatorControl) -> None:
    with pytest.raises(SimulatorControlError) as unknown:
        control.connect_off(["00000000-0000-0000-0000-000000000000"])
    assert (unknown.value.status, json.loads(unknown.value.body)["errorCode"]) == (
        404,
        "ENVELOPE_DOES_NOT_EXIST",
    )
    for body in ([], {"envelopeIds": "x"}, {"envelopeIds": []}, {"envelopeIds": [1]}):
        with pytest.raises(SimulatorControlError) as refused:
            control._json("POST", "connect/off", body)
        assert refused.value.status == 400
    assert control.config()["connectOff"] is False


def test_a_callback_record_says_what_became_of_it(
    api: Api, control: SimulatorControl, receiver: Receiver
) -> None:
    api.create()
    receiver.status = 500
    api.create()
    control.configure(webhookUrl=closed_port_url())
    api.create()
    control.configure(webhookUrl=None)
    api.create()
    assert [c["outcome"] for c in control.callbacks()] == [
        *["delivered"] * 2,
        *["refused"] * 2,
        *["unanswered"] * 2,
        *["not_sent"] * 2,
    ]


def parse_id(body: bytes) -> str:
    envelope_id: str = json.loads(body)["data"]["envelopeId"]
    return envelope_id


# --- random drops ------------------------------------------------------------------------


def test_a_seeded_share_of_callbacks_is_dropped_repeatably_and_logged_as_failures(
    api: Api, control: SimulatorControl, receiver: Receiver, again: Callable[[], Api]
) -> None:
    assert (control.config()["dropCallbacks"], control.config()["dropSeed"]) == (0.0, 0)
    control.configure(dropCallbacks=0.3, dropSeed=7)
    draws = random.Random(7)
    expected = [draws.random() < 0.3 for _ in range(20)]  # one draw per callback, in order
    for _ in range(10):
        api.create()  # envelope-sent, recipient-sent

    records = control.callbacks()
    assert [r["outcome"] == "dropped" for r in records] == expected
    assert 0 < sum(expected) < 20
    dropped = [r for r in records if r["outcome"] == "dropped"]
    assert all(r["url"] == receiver.url and r["status"] is None for r in dropped)
    assert all(r["error"].startswith("dropped") for r in dropped)
    assert len(receiver.received) == 20 - len(dropped)  # a dropped callback is never POSTed

    failures = control.failures()  # as if the listener were down past DocuSign's retries
    assert [(f["envelopeId"], f["connectId"]) for f in failures] == [
        (r["envelopeId"], r["connectId"]) for r in dropped
    ]
    assert {f["error"] for f in failures} == {"Unable to connect to the remote server"}
    assert {f["configUrl"] for f in failures} == {receiver.url}

    control.reset()  # the sequence starts again from dropSeed
    api = again()
    for _ in range(10):
        api.create()
    assert [r["outcome"] == "dropped" for r in control.callbacks()] == expected


def test_drops_hit_every_configuration_and_never_what_is_not_sent(
    api: Api, control: SimulatorControl, receiver: Receiver, again: Callable[[], Api]
) -> None:
    other = Receiver()
    try:
        answer = api.call("POST", "connect", json=connect_configuration(other.url))
        assert answer.status_code == 201, answer.text
        control.configure(dropCallbacks=1.0)
        api.create()
        assert (receiver.received, other.received) == ([], [])
        assert {(f["connectId"], f["configUrl"]) for f in control.failures()} == {
            (str(control.config()["configurationId"]), receiver.url),
            (answer.json()["connectId"], other.url),
        }

        control.reset()
        control.connect_off()  # off wins: nothing is tried, so nothing is dropped or logged
        again().create()
        assert {c["outcome"] for c in control.callbacks()} == {"not_sent"}
        assert control.failures() == []
    finally:
        other.close()


@pytest.mark.parametrize("share", [-0.1, 1.5, "lots", float("nan")])
def test_a_drop_share_outside_nought_to_one_is_refused(control: SimulatorControl, share: object) -> None:
    with pytest.raises(SimulatorControlError) as refused:
        control.configure(dropCallbacks=share)
    assert refused.value.status == 400
    assert control.config()["dropCallbacks"] == 0.0


def connect_configuration(url: str) -> dict[str, Any]:
    """A second configuration, as dealwire creates its own: JSON SIM, every event."""
    return {
        "configurationType": "custom",
        "urlToPublishTo": url,
        "name": "second",
        "allowEnvelopePublish": "true",
        "allUsers": "true",
        "deliveryMode": "SIM",
        "events": ["envelope-sent", "envelope-completed", "recipient-sent", "recipient-completed"],
        "eventData": {"version": "restv2.1", "format": "json", "includeData": ["recipients"]},
    }
