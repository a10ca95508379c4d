"""infra/docusign_sim for the status poller: lost callbacks, the retry queue, counted calls, benches."""

from __future__ import annotations

import json
import random
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from dealwire.webhook.signature import verify
from infra.docusign_sim import Simulator, SimulatorControl, SimulatorControlError
from infra.docusign_sim.request_log import MAX_KEPT, RequestLog
from tests.docusign_support import closed_port_url, simulator
from tests.infra.test_docusign_sim import HMAC_KEY, TOP_OF_AN_HOUR, Api, FakeClock, Receiver, parse
from tests.infra.test_docusign_sim_sending import api, control, http, key, receiver, sim
from tests.support import ACCOUNT_ID

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["api", "control", "http", "key", "receiver", "sim"]  # the simulator's fixtures, used by name
ENVELOPES = f"/restapi/v2.1/accounts/{ACCOUNT_ID}/envelopes"


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


# --- the retry queue (republish) ---------------------------------------------------------


def retry(api: Api, envelope_id: str) -> httpx.Response:
    return api.call("PUT", f"connect/envelopes/{envelope_id}/retry_queue")


def retry_all(api: Api, body: object) -> httpx.Response:
    return api.call("PUT", "connect/envelopes/retry_queue", json=body)


def test_the_retry_queue_republishes_the_current_state_and_clears_the_failure_log(
    api: Api, control: SimulatorControl, receiver: Receiver
) -> None:
    receiver.status = 500
    envelope_id = api.create()
    control.sign(envelope_id, "1")
    assert {f["envelopeId"] for f in control.failures()} == {envelope_id}
    receiver.status = 200
    receiver.received.clear()
    control.clear_callbacks()

    answer = retry(api, envelope_id)
    assert answer.status_code == 200, answer.text
    startup = str(control.config()["configurationId"])
    assert answer.json() == {
        "retryQueue": [
            {
                "envelopeId": envelope_id,
                "status": "Sent",
                "statusMessage": "the listener answered 2xx",
                "configId": startup,
                "configUrl": receiver.url,
            }
        ]
    }
    ((headers, body),) = receiver.received  # the envelope's last event, as it is now
    assert verify(body, headers, [HMAC_KEY]).valid
    message = parse(headers, body)
    assert (message.event, message.envelope.status) == ("recipient-sent", "sent")
    assert [r.status for r in message.recipients] == ["completed", "sent"]
    (record,) = control.callbacks()
    assert (record["republished"], record["outcome"]) == (True, "delivered")
    assert control.failures() == []  # the listener took it: the envelope leaves the failure log

    control.sign(envelope_id, "2")
    receiver.received.clear()
    assert retry(api, envelope_id).json()["retryQueue"][0]["status"] == "Sent"  # no failure: sent anyway
    assert parse(*receiver.received[0]).event == "envelope-completed"
    assert {c["republished"] for c in control.callbacks()} == {False, True}


def test_a_failed_republish_is_counted_in_the_envelopes_failure_entries(
    api: Api, control: SimulatorControl, receiver: Receiver
) -> None:
    receiver.status = 500
    envelope_id = api.create()
    before = control.failures()
    assert [f["retryCount"] for f in before] == ["0", "0"]

    (result,) = retry(api, envelope_id).json()["retryQueue"]
    assert (result["status"], result["statusMessage"]) == (
        "Failed",
        "The remote server returned an error: (500) Internal Server Error.",
    )
    after = control.failures()
    assert [(f["failureId"], f["retryCount"]) for f in after] == [(f["failureId"], "1") for f in before]
    assert all(a["lastTry"] >= b["lastTry"] for a, b in zip(after, before, strict=True))

    control.configure(dropCallbacks=1.0)  # a dropped republish is a failure like any other
    (result,) = retry(api, envelope_id).json()["retryQueue"]
    assert (result["status"], result["statusMessage"]) == ("Failed", "Unable to connect to the remote server")
    assert {(f["retryCount"], f["error"]) for f in control.failures()} == {
        ("2", "Unable to connect to the remote server")
    }

    control.configure(dropCallbacks=0.0)
    receiver.status = 200
    control.clear_callbacks()
    other = api.create()  # no failure entry of its own
    retry(api, other)
    assert {f["envelopeId"] for f in control.failures()} == {envelope_id}


def test_several_envelopes_are_republished_and_what_is_not_published_says_why(
    api: Api, control: SimulatorControl, receiver: Receiver
) -> None:
    sent, draft, quiet = api.create(), api.create(status="created"), api.create()
    control.connect_off([quiet])
    receiver.received.clear()
    control.clear_callbacks()

    answer = retry_all(api, {"envelopeIds": [sent, draft, quiet, sent]})
    assert answer.status_code == 200, answer.text
    assert [(r["envelopeId"], r["status"]) for r in answer.json()["retryQueue"]] == [
        (sent, "Sent"),
        (draft, "NotPublished"),
        (quiet, "NotPublished"),
    ]
    _, not_yet, off = answer.json()["retryQueue"]
    assert not_yet["statusMessage"].startswith("nothing to publish")
    assert off["statusMessage"].startswith("connect off")
    assert "configId" not in off
    assert [parse_id(body) for _, body in receiver.received] == [sent]
    assert [(c["envelopeId"], c["outcome"]) for c in control.callbacks()] == [
        (sent, "delivered"),
        (quiet, "not_sent"),
    ]

    control.connect_off()
    (result,) = retry(api, sent).json()["retryQueue"]
    assert (result["status"], result["statusMessage"]) == (
        "NotPublished",
        "connect off for the account (control API): the callback was not sent",
    )
    assert control.failures() == []  # nothing was tried
    control.connect_on()
    startup = control.config()["configurationId"]
    control.update_configuration(startup, events=["envelope-completed"])
    (result,) = retry(api, sent).json()["retryQueue"]
    assert (result["status"], result["statusMessage"]) == (
        "NotPublished",
        "no Connect configuration that publishes subscribes to recipient-sent, the envelope's last event",
    )


def test_the_retry_queue_refuses_unknown_envelopes_and_requests_it_cannot_read(
    api: Api, control: SimulatorControl, receiver: Receiver
) -> None:
    known = api.create()
    receiver.received.clear()
    unknown = "00000000-0000-0000-0000-000000000000"
    for answer in (retry(api, unknown), retry_all(api, {"envelopeIds": [known, unknown]})):
        assert (answer.status_code, answer.json()["errorCode"]) == (404, "ENVELOPE_DOES_NOT_EXIST")
    assert receiver.received == []  # refused whole: nothing was republished
    for body in ({}, {"envelopeIds": []}, {"envelopeIds": "x"}, [known]):
        refused = retry_all(api, body)
        assert (refused.status_code, refused.json()["errorCode"]) == (400, "INVALID_REQUEST_PARAMETER")

    control.configure(rateLimit=0)  # the retry queue spends the hourly budget like any call
    limited = retry(api, known)
    assert (limited.status_code, limited.json()["errorCode"]) == (429, "HOURLY_APIINVOCATION_LIMIT_EXCEEDED")


def test_with_async_callbacks_the_retry_queue_answers_queued_unless_asked_to_wait(
    api: Api, control: SimulatorControl, receiver: Receiver
) -> None:
    control.configure(asyncCallbacks=True)
    envelope_id = api.create()
    wait_for(lambda: len(receiver.received) == 2)
    receiver.delay = 0.3  # the callback thread is still busy when the answer goes
    (queued,) = retry(api, envelope_id).json()["retryQueue"]
    assert (queued["status"], queued["configUrl"]) == ("Queued", receiver.url)
    wait_for(lambda: len(receiver.received) == 3)
    (waited,) = retry_all(api, {"envelopeIds": [envelope_id], "synchronous": "true"}).json()["retryQueue"]
    assert waited["status"] == "Sent"
    assert len(receiver.received) == 4


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- polling with listStatusChanges ------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TOP_OF_AN_HOUR)


@pytest.fixture
def timed(key: rsa.RSAPrivateKey, clock: FakeClock) -> Iterator[Simulator]:
    with simulator(key, clock=clock, envelope_polling=True) as started:
        yield started


def test_list_status_changes_naming_envelopes_polls_each_of_them(
    timed: Simulator, clock: FakeClock, http: httpx.Client, key: rsa.RSAPrivateKey
) -> None:
    api, control = Api(http, timed, key), SimulatorControl(timed.url)
    first, second, third = api.create(), api.create(), api.create()

    def listing(*ids: str) -> httpx.Response:
        return api.call("GET", "envelopes", params={"envelope_ids": ",".join(ids)})

    assert listing(first, second).status_code == 200  # one poll of each
    refused = listing(second, third)  # second is over: the whole call is refused
    assert (refused.status_code, refused.json()["errorCode"]) == (
        429,
        "HOURLY_ENVELOPE_POLLING_LIMIT_EXCEEDED",
    )
    assert api.call("GET", f"envelopes/{third}").status_code == 200  # the refused listing counted none
    assert api.call("GET", f"envelopes/{first}").status_code == 429  # the listing counted first

    by_date = api.call("GET", "envelopes", params={"from_date": "2024-01-01"})
    by_transaction = api.call("GET", "envelopes", params={"transaction_ids": "t-1"})
    assert (by_date.status_code, by_transaction.status_code) == (200, 200)
    fourth = api.create()
    assert api.call("GET", "envelopes", params={"from_date": "2024-01-01"}).status_code == 200
    assert api.call("GET", f"envelopes/{fourth}").status_code == 200  # listings by date poll nothing

    control.configure(envelopePollingLimit=2)
    fifth = api.create()
    assert listing(fifth, fifth).status_code == 200  # named twice, polled once
    assert api.call("GET", f"envelopes/{fifth}").status_code == 200
    assert api.call("GET", f"envelopes/{fifth}").status_code == 429

    clock.now += 900  # DocuSign's 15 minutes
    assert listing(first, second, third, fourth, fifth).status_code == 200
    control.configure(envelopePolling=False)
    assert [listing(first).status_code for _ in range(3)] == [200] * 3


# --- bulk envelopes ----------------------------------------------------------------------


def test_bulk_envelopes_are_sent_quickly_with_generated_signers_and_no_callbacks(
    api: Api, control: SimulatorControl, receiver: Receiver
) -> None:
    started = time.monotonic()
    ids = control.bulk_envelopes(10_000)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"10,000 envelopes took {elapsed:.2f} s"
    assert len(set(ids)) == 10_000
    assert (receiver.received, control.callbacks()) == ([], [])

    first = control.envelope(ids[0])
    assert (first["status"], first["sentDateTime"] is not None) == ("sent", True)
    assert [(s["name"], s["email"], s["status"]) for s in first["recipients"]["signers"]] == [
        ("Signer 1-1", "signer-1-1@example.test", "sent"),
        ("Signer 1-2", "signer-1-2@example.test", "created"),
    ]
    assert control.envelope(ids[-1])["recipients"]["signers"][1]["email"] == "signer-10000-2@example.test"
    listed = api.call("GET", "envelopes", params={"from_date": "2024-01-01", "count": "5"}).json()
    assert listed["totalSetSize"] == "10000"

    (more,) = control.bulk_envelopes(1)  # numbers go on across calls
    assert control.envelope(more)["recipients"]["signers"][0]["email"] == "signer-10001-1@example.test"
    control.sign(ids[0], "1")  # a bulk envelope is an envelope like any other
    assert parse_id(receiver.received[0][1]) == ids[0]
    (result,) = retry(api, ids[1]).json()["retryQueue"]  # its creation is its last event
    assert (result["status"], parse(*receiver.received[-1]).event) == ("Sent", "recipient-sent")


def test_bulk_envelopes_take_a_template_signers_and_a_status_and_refuse_what_they_cannot_make(
    control: SimulatorControl,
) -> None:
    control.register_template(
        "tpl-one",
        [
            {"roleName": "Customer"},
            {"roleName": "Copy", "type": "carboncopy", "name": "Legal", "email": "legal@example.com"},
        ],
    )
    (draft,) = control.bulk_envelopes(1, template_id="tpl-one", signers=1, status="created")
    envelope = control.envelope(draft)
    assert (envelope["status"], envelope["recipients"]["signers"][0]["name"]) == ("created", "Signer 1-1")

    for body, status in (
        ({"count": 0}, 400),
        ({"count": 100_001}, 400),
        ({"count": "10"}, 400),
        ({"count": 1, "signers": 3}, 400),  # tpl-nda has two signer roles
        ({"count": 1, "status": "completed"}, 400),
        ({"count": 1, "templateId": "tpl-missing"}, 400),
        ({"count": 1, "templateId": "tpl-one", "signers": 0}, 400),
    ):
        with pytest.raises(SimulatorControlError) as refused:
            control._json("POST", "envelopes/bulk", body)
        assert refused.value.status == status, body
    control.register_template("tpl-two", [{"roleName": "A"}, {"roleName": "B", "routingOrder": "2"}])
    with pytest.raises(SimulatorControlError) as unfilled:  # a signer role left empty cannot be sent
        control.bulk_envelopes(1, template_id="tpl-two", signers=1)
    assert json.loads(unfilled.value.body)["errorCode"] == "INVALID_EMAIL_ADDRESS_FOR_RECIPIENT"
    assert len(control.envelopes()) == 1
