"""The status poller against moto and the DocuSign simulator: nothing stays stale when Connect fails.

Connect is switched off (or drops callbacks) in the simulator; one cycle brings dealwire
up to date through the same writes a callback makes, and every call is counted where
DocuSign would count it: at the simulator.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from dealwire.envelope_reads import EnvelopeReads
from dealwire.polling.cycle import PollRules, StatusPoll
from dealwire.store.archive import Archive
from dealwire.store.budget import BudgetStore
from dealwire.store.docusign_app import docusign_client_factory
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.polling import PollStateStore
from dealwire.store.tenants import TenantDirectory
from infra.docusign_sim import SimulatorControl
from infra.local.resources import seed_tenant
from tests.docusign_support import USER_ID, closed_port_url, put_app_secret, simulator
from tests.integration.helpers import bucket, table
from tests.integration.test_document_job_end_to_end import document_fetch, sqs_event  # noqa: F401 - a fixture
from tests.integration.test_stream_publisher import drain, publish_all, tap
from tests.support import ACCOUNT_ID, HMAC_KEY, TENANT_ID, FakeContext, ManualClock, http_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.docusign_sim import Simulator
    from infra.local.gateway import Gateway
    from infra.local.template import Stack
    from tests.infra.test_docusign_sim import Api

# Tests see changes the moment they happen: nothing waits for DocuSign's index to settle.
RULES = PollRules(settle=timedelta(0), page_size=100, failures_every=timedelta(days=1))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(gateway: Gateway, private_key: rsa.RSAPrivateKey, clock: ManualClock) -> Iterator[Simulator]:
    """The simulator on the tests' clock (its limits' windows move with it)."""
    with simulator(
        private_key, webhook_url=f"{gateway.url}/webhooks/docusign", hmac_keys=[HMAC_KEY], clock=clock
    ) as started:
        yield started


@pytest.fixture
def control(sim: Simulator) -> SimulatorControl:
    return SimulatorControl(sim.url)


def make_poller(
    aws: Stack, sim: Simulator, clock: Callable[[], float], rules: PollRules = RULES
) -> StatusPoll:
    env = aws.function_environment("StatusPollFunction")
    envelopes = EnvelopeStore(table(aws))
    return StatusPoll(
        tenants=TenantDirectory(env["DEALWIRE_TENANT_SECRET_PREFIX"], 0),
        states=PollStateStore(table(aws)),
        budgets=BudgetStore(table(aws)),
        envelopes=envelopes,
        reads=EnvelopeReads(Archive(bucket(aws)), envelopes),
        # The deployment points this at DocuSign; here at the simulator.
        docusign=docusign_client_factory(env["DEALWIRE_DOCUSIGN_APP_SECRET"], sim.url, None),
        rules=rules,
        clock=clock,
    )


@pytest.fixture
def poller(aws: Stack, sim: Simulator, private_key: rsa.RSAPrivateKey, clock: ManualClock) -> StatusPoll:
    put_app_secret(
        aws.function_environment("StatusPollFunction")["DEALWIRE_DOCUSIGN_APP_SECRET"], private_key
    )
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY], docusign_user_id=USER_ID)
    return make_poller(aws, sim, clock)


def statuses(aws: Stack, envelope_id: str) -> tuple[str, list[str]]:
    """The envelope's status and its recipients', in routing order, as dealwire's tracker has them."""
    found = EnvelopeStore(table(aws)).tracker(TENANT_ID, envelope_id)
    assert found is not None, f"dealwire has no envelope {envelope_id}"
    return str(found.envelope["status"]), [str(r["status"]) for r in found.recipients]


def envelope_item(aws: Stack, envelope_id: str) -> dict[str, Any]:
    item = EnvelopeStore(table(aws)).envelope(TENANT_ID, envelope_id)
    assert item is not None
    return item


def polls_of(control: SimulatorControl) -> list[dict[str, Any]]:
    """The listStatusChanges calls the simulator answered."""
    return [
        r
        for r in control.requests()
        if r["method"] == "GET" and r["path"].endswith(f"/accounts/{ACCOUNT_ID}/envelopes")
    ]


def sign_all(control: SimulatorControl, envelope_id: str) -> None:
    for recipient in ("1", "2"):
        control.sign(envelope_id, recipient)


def test_with_connect_off_one_cycle_brings_every_envelope_up_to_date_with_its_documents(
    aws: Stack,
    api: Api,
    control: SimulatorControl,
    poller: StatusPoll,
    document_fetch: Any,  # noqa: F811
) -> None:
    finished, halfway, untouched = api.create(), api.create(), api.create()
    assert envelope_item(aws, finished)["status"] == "sent"  # Connect told dealwire this much
    control.connect_off()
    sign_all(control, finished)
    control.sign(halfway, "1")
    bus = tap(aws)
    publish_all(aws)
    drain(bus)
    control.clear_requests()

    report = poller.run(TENANT_ID)

    assert report.outcome == "done", report.detail
    assert report.reconciled == 2  # finished and halfway; untouched had nothing new
    assert [r["query"].get("from_date") is not None for r in polls_of(control)] == [True]
    assert statuses(aws, finished) == ("completed", ["completed", "completed"])
    assert statuses(aws, halfway) == ("sent", ["completed", "sent"])
    assert statuses(aws, untouched) == ("sent", ["sent", "created"])
    assert envelope_item(aws, finished)["last_source"] == "poll"
    assert envelope_item(aws, untouched)["last_source"] == "connect"
    # The same path as a callback: the stream publishes the completion, marked, and queues the documents.
    publish_all(aws)
    published = drain(bus)
    completed = [e for e in published if e["detail-type"] == "envelope.completed"]
    assert [(e["detail"]["envelopeId"], e["detail"]["source"]) for e in completed] == [(finished, "poll")]
    jobs = [j for j in drain(aws.ref("DocumentJobQueue")) if j["kind"] == "fetch_documents"]
    assert [j["envelopeId"] for j in jobs] == [finished]
    answer = document_fetch.lambda_handler(sqs_event(aws, jobs), FakeContext(function_name="document_fetch"))
    assert answer == {"batchItemFailures": []}
    assert set(EnvelopeStore(table(aws)).signed_documents(TENANT_ID, finished)) == {"combined", "certificate"}


def test_callbacks_before_the_poll_leave_it_nothing_to_do(
    aws: Stack, api: Api, control: SimulatorControl, poller: StatusPoll
) -> None:
    envelope_id = api.create()
    sign_all(control, envelope_id)  # Connect delivers every callback
    before = envelope_item(aws, envelope_id)

    report = poller.run(TENANT_ID)

    assert (report.outcome, report.listed, report.reconciled) == ("done", 1, 0)
    after = envelope_item(aws, envelope_id)
    assert (after["order"], after["last_source"]) == (before["order"], "connect")


def test_callbacks_arriving_after_the_poll_change_nothing_it_recorded(
    aws: Stack, api: Api, control: SimulatorControl, poller: StatusPoll
) -> None:
    """The listener is down while the envelope is signed (the callbacks fail); the poll records
    the signing; then DocuSign's late deliveries arrive, in reverse order, twice."""
    from webhook_docusign import app as webhook

    envelope_id = api.create()
    control.clear_callbacks()
    control.configure(webhookUrl=closed_port_url())
    sign_all(control, envelope_id)
    late = [c for c in control.callbacks() if c["envelopeId"] == envelope_id]
    assert late
    assert all(c["status"] is None for c in late)  # none was delivered
    bus = tap(aws)
    assert poller.run(TENANT_ID).reconciled == 1
    publish_all(aws)
    after_poll = {e["detail"]["eventId"] for e in drain(bus)}
    recorded = statuses(aws, envelope_id)
    assert recorded == ("completed", ["completed", "completed"])

    for callback in [*reversed(late), *late]:
        answer = webhook.lambda_handler(
            http_event(callback["body"].encode(), content_type=callback["contentType"]), FakeContext()
        )
        assert answer["statusCode"] == 200, answer
    publish_all(aws)
    published = drain(bus)
    assert {e["detail"]["eventId"] for e in published} <= after_poll  # re-derived, never new
    assert statuses(aws, envelope_id) == recorded


def test_a_crash_between_pages_repeats_the_page_and_skips_none(  # noqa: PLR0917 - fixtures
    aws: Stack,
    sim: Simulator,
    api: Api,
    control: SimulatorControl,
    poller: StatusPoll,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    control.connect_off()
    envelopes = [api.create() for _ in range(5)]
    paged = make_poller(
        aws, sim, clock, PollRules(settle=timedelta(0), page_size=2, failures_every=timedelta(days=1))
    )
    applied: list[str] = []
    real = EnvelopeReads.record

    def crashing(self: EnvelopeReads, tenant_id: str, account_id: str, document: Any, **kwargs: Any) -> Any:
        if len(applied) == 3:
            raise ConnectionError("the function was killed between two pages")
        applied.append(str(document["envelopeId"]))
        return real(self, tenant_id, account_id, document, **kwargs)

    monkeypatch.setattr(EnvelopeReads, "record", crashing)
    with pytest.raises(ConnectionError):
        paged.run(TENANT_ID)
    state = PollStateStore(table(aws)).state(TENANT_ID)
    assert state is not None
    assert state.watermark is None  # nothing was skipped past
    monkeypatch.setattr(EnvelopeReads, "record", real)

    report = paged.run(TENANT_ID)  # the lease was let go: the next cycle runs at once

    assert report.outcome == "done", report.detail
    assert (report.pages, report.listed) == (3, 5)  # every page again, from the start
    assert {statuses(aws, e)[0] for e in envelopes} == {"sent"}
    assert all(envelope_item(aws, e)["last_source"] == "poll" for e in envelopes)


def test_two_overlapping_cycles_do_one_cycles_work(  # noqa: PLR0917 - fixtures
    aws: Stack, sim: Simulator, api: Api, control: SimulatorControl, poller: StatusPoll, clock: ManualClock
) -> None:
    control.connect_off()
    for _ in range(3):
        sign_all(control, api.create())
    control.clear_requests()
    other = make_poller(aws, sim, clock)
    start = threading.Barrier(2)
    reports: list[Any] = []

    def cycle(which: StatusPoll) -> None:
        start.wait()
        reports.append(which.run(TENANT_ID))

    threads = [threading.Thread(target=cycle, args=(p,)) for p in (poller, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(r.outcome for r in reports) == ["busy", "done"]
    assert len(polls_of(control)) == 1
    assert sum(r.reconciled for r in reports) == 3


def test_no_envelope_is_polled_twice_in_15_minutes_and_the_reserve_is_never_spent(
    aws: Stack, sim: Simulator, control: SimulatorControl, private_key: rsa.RSAPrivateKey, clock: ManualClock
) -> None:
    """Three hours of 5-minute cycles over 110 open envelopes that DocuSign never calls back about,
    on an account allowed 20 calls an hour: counted at the simulator."""
    put_app_secret(
        aws.function_environment("StatusPollFunction")["DEALWIRE_DOCUSIGN_APP_SECRET"], private_key
    )
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY], docusign_user_id=USER_ID)
    # DocuSign's per-envelope rule on: one poll of an envelope per 15 minutes. (Off elsewhere: the
    # simulator counts document downloads as polls, which the document job's two would break.)
    control.configure(rateLimit=20, envelopePolling=True)
    rules = PollRules(
        settle=timedelta(0),
        page_size=100,
        sweep_every=timedelta(minutes=15),
        sweep_quiet_for=timedelta(minutes=30),
        reserve_share=0.25,
        failures_every=timedelta(days=1),
    )
    poller = make_poller(aws, sim, clock, rules)
    control.bulk_envelopes(110)
    control.clear_requests()
    budgets = BudgetStore(table(aws))
    outcomes, left = [], []
    for _ in range(12 * 3):
        outcomes.append(poller.run(TENANT_ID).outcome)
        # What DocuSign said was left this hour, as the table keeps it for every function.
        left.append(budgets.current(TENANT_ID, clock()).remaining)
        clock.advance(minutes=5)

    requests = control.requests()
    refused = [(r["status"], r["errorCode"], r["query"].keys()) for r in requests if r["status"] >= 400]
    assert not refused, f"the simulator refused {len(refused)} calls, first {refused[0]}"
    assert "docusign_refused" not in outcomes
    assert "budget_low" in outcomes  # the budget, not luck, held the sweep back
    # Every open envelope was asked about, more than once in those hours, never twice in 15 minutes.
    asked: dict[str, list[str]] = {}
    for request in requests:
        for envelope_id in filter(None, request["query"].get("envelope_ids", "").split(",")):
            asked.setdefault(envelope_id, []).append(request["at"])
    assert len(asked) == 110
    assert min(len(times) for times in asked.values()) >= 2
    # The hourly budget, as recorded after every cycle: never under the reserve.
    reported = [remaining for remaining in left if remaining is not None]
    assert len(reported) > len(left) / 2
    assert min(reported) >= 20 * 0.25


class Polling:
    """The status_poll function with DocuSign pointed at the simulator, on the tests' clock."""

    def __init__(self, app: Any, clock: ManualClock) -> None:
        self.app = app
        self.clock = clock


@pytest.fixture
def polling(
    aws: Stack,
    sim: Simulator,
    private_key: rsa.RSAPrivateKey,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Polling:
    from status_poll import app

    put_app_secret(
        aws.function_environment("StatusPollFunction")["DEALWIRE_DOCUSIGN_APP_SECRET"], private_key
    )
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY], docusign_user_id=USER_ID)
    poll = make_poller(aws, sim, clock, PollRules(settle=timedelta(0), failures_every=timedelta(0)))
    monkeypatch.setattr(app, "status_poll", lambda: poll)
    return Polling(app, clock)


def test_the_schedule_queues_one_cycle_per_tenant_and_the_worker_runs_them(
    aws: Stack, api: Api, control: SimulatorControl, polling: Polling
) -> None:
    seed_tenant(aws, "acme", account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY])  # no DocuSign user yet
    envelope_id = api.create()
    control.connect_off()
    sign_all(control, envelope_id)

    queued = polling.app.schedule_handler({"source": "dealwire.status_poll"}, FakeContext())

    assert queued["queued"] == 2
    requests = drain(aws.ref("StatusPollQueue"))
    assert sorted(r["tenantId"] for r in requests) == ["acme", TENANT_ID]
    answer = polling.app.lambda_handler(sqs_event(aws, requests), FakeContext(function_name="status_poll"))
    assert answer == {"batchItemFailures": []}
    assert statuses(aws, envelope_id)[0] == "completed"
    acme = PollStateStore(table(aws)).state("acme")
    assert acme is None  # not connected: nothing to poll, nothing held
    named = polling.app.schedule_handler({"tenantIds": ["acme"]}, FakeContext())
    assert named["queued"] == 1
    with pytest.raises(ValidationError, match="tenantIds"):
        polling.app.schedule_handler({"tenantIds": ["../other"]}, FakeContext())


def test_docusign_down_fails_the_record_for_a_retry_and_keeps_what_was_applied(
    aws: Stack, api: Api, control: SimulatorControl, polling: Polling
) -> None:
    from dealwire.contracts.events import PollCycleRequest

    control.connect_off()
    sign_all(control, api.create())
    control.add_fault("503", count=50, path_prefix="/restapi/", retry_after=0)
    request = PollCycleRequest(tenant_id=TENANT_ID, scheduled_at="2026-12-02T10:00:00Z")
    event = sqs_event(aws, [request.model_dump(by_alias=True)])
    with pytest.raises(Exception, match="All records failed"):
        polling.app.lambda_handler(event, FakeContext(function_name="status_poll"))
    state = PollStateStore(table(aws)).state(TENANT_ID)
    assert state is not None
    assert state.last_cycle is not None
    assert state.last_cycle["outcome"] == "docusign_unavailable"
    assert state.watermark is None
    control.clear_faults()
    assert polling.app.lambda_handler(event, FakeContext(function_name="status_poll")) == {
        "batchItemFailures": []
    }
    state = PollStateStore(table(aws)).state(TENANT_ID)
    assert state is not None
    assert state.watermark is not None


def test_a_user_who_may_not_read_connects_failure_log_still_has_the_changes_listed(
    aws: Stack, api: Api, control: SimulatorControl, polling: Polling
) -> None:
    control.connect_off()
    envelope_id = api.create()
    control.add_fault(
        "500",
        path_prefix=f"/restapi/v2.1/accounts/{ACCOUNT_ID}/connect/failures",
        status=400,
        body={"errorCode": "USER_LACKS_PERMISSIONS", "message": "This user lacks sufficient permissions."},
    )
    report = polling.app.status_poll().run(TENANT_ID)
    assert report.outcome == "done", report.detail
    assert "USER_LACKS_PERMISSIONS" in report.detail
    assert report.listed == 1  # Connect never told dealwire of it: the listing did
    assert statuses(aws, envelope_id)[0] == "sent"


def test_a_budget_that_cannot_be_recorded_does_not_fail_the_cycle(
    aws: Stack, api: Api, control: SimulatorControl, poller: StatusPoll, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    control.connect_off()
    sign_all(control, api.create())

    def throttled(*_: Any, **__: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "UpdateItem")

    monkeypatch.setattr(BudgetStore, "record", throttled)
    report = poller.run(TENANT_ID)
    assert (report.outcome, report.reconciled) == ("done", 1)
    assert "the API budget was not recorded" in report.detail


def test_a_cycle_holds_its_lease_for_the_invocations_time_left_and_a_minute(
    poller: StatusPoll, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[int] = []
    real = PollStateStore.acquire

    def acquire(
        self: PollStateStore, tenant_id: str, owner: str, *, seconds: int, now: float | None = None
    ) -> Any:
        held.append(seconds)
        return real(self, tenant_id, owner, seconds=seconds, now=now)

    monkeypatch.setattr(PollStateStore, "acquire", acquire)
    assert poller.run(TENANT_ID, remaining=lambda: 299.4).outcome == "done"
    assert poller.run(TENANT_ID).outcome == "done"  # no deadline: the rules' lease
    assert held == [299 + 60, RULES.lease_seconds]
