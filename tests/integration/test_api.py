"""The CRM API's envelope and thread routes, against moto and the DocuSign simulator.

Envelopes are sent and signed in the simulator, whose Connect callbacks reach the webhook
in-process; the document job stores the signed PDF and certificate as in production.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import requests

from dealwire.api.envelopes import Envelopes
from dealwire.settings import api_settings
from dealwire.store.archive import Archive
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.tenants import TenantDirectory
from infra.docusign_sim import SimulatorControl
from infra.local.resources import seed_tenant
from tests.docusign_support import USER_ID, put_app_secret
from tests.integration.api_support import OTHER, SAM, ULLA, api, call, filed, follow, seed_other_tenants_user
from tests.integration.helpers import bucket, simulated_access, table
from tests.integration.test_document_job_end_to_end import document_fetch, signed_and_queued, sqs_event
from tests.mail_support import BOB, bcc_mail, ingest, put_raw, seed_crm, ses_event
from tests.support import ACCOUNT_ID, HMAC_KEY, TENANT_ID, FakeContext

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.docusign_sim import Simulator
    from infra.local.template import Stack
    from tests.infra.test_docusign_sim import Api

__all__ = ["document_fetch"]  # a fixture, used by name below


@pytest.fixture
def crm_api(
    aws: Stack, sim: Simulator, private_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> SimulatorControl:
    """The API function with DocuSign pointed at the simulator, and the CRM's users seeded."""
    from api import app

    env = aws.function_environment("ApiFunction")
    put_app_secret(env["DEALWIRE_DOCUSIGN_APP_SECRET"], private_key)
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY], docusign_user_id=USER_ID)
    access = simulated_access(api_settings(), sim.url, "api")
    factory = access.for_tenant
    service = Envelopes(
        envelopes=EnvelopeStore(table(aws)),
        documents=Archive(bucket(aws)),
        tenants=TenantDirectory(env["DEALWIRE_TENANT_SECRET_PREFIX"], 0),
        docusign=factory,
        link_seconds=300,
    )
    monkeypatch.setattr(app, "envelopes", lambda: service)
    monkeypatch.setattr(app, "docusign_access", lambda: access)  # templates and sends too
    seed_crm(aws)
    seed_other_tenants_user()
    return SimulatorControl(sim.url)


def completed_with_documents(aws: Stack, sim: Simulator, api_client: Api, document_fetch: Any) -> str:
    envelope_id, jobs = signed_and_queued(aws, sim, api_client)
    answer = document_fetch.lambda_handler(sqs_event(aws, jobs), FakeContext(function_name="document_fetch"))
    assert answer == {"batchItemFailures": []}
    return envelope_id


# -- a deal's envelopes and one envelope's tracker ------------------------------------------------


def test_a_deals_envelopes_page_newest_first_and_stay_in_their_tenant(
    api: Api, crm_api: SimulatorControl
) -> None:
    made = [api.create() for _ in range(3)]
    status, first = _api("GET", "/v1/deals/deal-1001/envelopes", query="limit=2")
    assert status == 200
    assert [e["envelopeId"] for e in first["envelopes"]] == made[::-1][:2]
    assert first["cursor"]
    status, second = _api("GET", "/v1/deals/deal-1001/envelopes", query=f"limit=2&cursor={first['cursor']}")
    assert ([e["envelopeId"] for e in second["envelopes"]], second["cursor"]) == ([made[0]], None)
    assert _api("GET", "/v1/deals/deal-1001/envelopes", claims=OTHER) == (
        200,
        {"envelopes": [], "cursor": None},
    )
    status, refused = _api("GET", "/v1/deals/deal-2/envelopes", query=f"cursor={first['cursor']}")
    assert (status, refused["error"]["code"]) == (400, "invalid_cursor")


def test_the_tracker_shows_who_signed_in_routing_order_and_what_can_be_downloaded(
    api: Api, crm_api: SimulatorControl
) -> None:
    envelope_id = api.create()
    crm_api.sign(envelope_id, "1")
    status, view = _api("GET", f"/v1/envelopes/{envelope_id}")
    assert status == 200
    assert (view["status"], view["progress"], view["signed"], view["signers"]) == ("sent", "1/2 signed", 1, 2)
    assert view["lastChangeSource"] == "connect"  # a callback brought it, not the poller
    assert view["dealId"] == "deal-1001"
    assert view["subject"] == "Please DocuSign: Deal 1001"
    assert [(r["routingOrder"], r["status"]) for r in view["recipients"]] == [(1, "completed"), (2, "sent")]
    assert view["recipients"][0]["signedAt"]
    signed = {d["kind"]: d for d in view["documents"] if d["kind"] != "original"}
    assert signed["combined"] == {
        "kind": "combined",
        "documentId": "combined",
        "name": "combined",
        "available": False,
        "reason": "exists once the envelope is completed",
    }


def test_another_tenants_envelope_is_not_found(api: Api, crm_api: SimulatorControl) -> None:
    envelope_id = api.create()
    assert _api("GET", f"/v1/envelopes/{envelope_id}", claims=OTHER)[0] == 404
    assert _api("GET", f"/v1/envelopes/{envelope_id}/documents/combined", claims=OTHER)[0] == 404
    assert _api("POST", f"/v1/envelopes/{envelope_id}/void", body={"reason": "x"}, claims=OTHER)[0] == 404
    assert _api("GET", "/v1/envelopes/does-not-exist")[0] == 404


# -- documents ---------------------------------------------------------------------------------------


def test_the_signed_pdf_exists_once_completed_and_downloads_through_a_short_lived_link(
    aws: Stack, sim: Simulator, api: Api, crm_api: SimulatorControl, document_fetch: Any
) -> None:
    early = api.create()
    status, refused = _api("GET", f"/v1/envelopes/{early}/documents/combined")
    assert (status, refused["error"]["code"]) == (409, "not_completed")
    assert "sent" in refused["error"]["message"]

    envelope_id = completed_with_documents(aws, sim, api, document_fetch)
    answer = call("GET", f"/v1/envelopes/{envelope_id}/documents/combined", claims=ULLA)
    assert answer["statusCode"] == 302
    pdf = requests.get(answer["headers"]["Location"], timeout=10)
    assert pdf.status_code == 200
    assert pdf.content == sim.document_bytes(envelope_id, "combined", certificate=False)
    status, link = _api("GET", f"/v1/envelopes/{envelope_id}/documents/certificate", query="redirect=false")
    assert (status, link["kind"], link["expiresIn"]) == (200, "certificate", 300)
    assert requests.get(link["url"], timeout=10).content == sim.document_bytes(envelope_id, "certificate")
    view = _api("GET", f"/v1/envelopes/{envelope_id}")[1]
    # Connect's envelope data without documents lists none; the signed ones are there now.
    assert {d["kind"]: d["available"] for d in view["documents"]} == {"combined": True, "certificate": True}


def test_a_completed_envelope_whose_documents_are_not_stored_yet_says_so(
    aws: Stack, sim: Simulator, api: Api, crm_api: SimulatorControl
) -> None:
    envelope_id, _ = signed_and_queued(aws, sim, api)
    status, refused = _api("GET", f"/v1/envelopes/{envelope_id}/documents/certificate")
    assert (status, refused["error"]["code"]) == (409, "documents_pending")


def test_an_original_is_fetched_from_docusign_once_per_signature_and_then_kept(
    sim: Simulator, api: Api, crm_api: SimulatorControl
) -> None:
    """DocuSign serves a document as it stands; a new signature is a new version to fetch."""
    envelope_id = api.create()

    def downloads() -> int:
        counts = crm_api.downloads()
        return sum(d["count"] for d in counts if (d["envelopeId"], d["documentId"]) == (envelope_id, "1"))

    for signed in (None, "1"):
        if signed:
            crm_api.sign(envelope_id, signed)
        for _ in range(2):
            answer = call("GET", f"/v1/envelopes/{envelope_id}/documents/1", claims=ULLA)
            assert answer["statusCode"] == 302
            pdf = requests.get(answer["headers"]["Location"], timeout=10).content
            assert pdf == sim.document_bytes(envelope_id, "1")
        assert downloads() == (2 if signed else 1)
    assert _api("GET", f"/v1/envelopes/{envelope_id}/documents/99")[0] == 404  # DocuSign has none


# -- voiding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["sent", "first_delivered", "first_signed"])
def test_voiding_goes_through_docusign_and_its_callback_records_it(
    api: Api, crm_api: SimulatorControl, state: str
) -> None:
    envelope_id = api.create()
    if state == "first_delivered":
        crm_api.deliver(envelope_id, "1")
    elif state == "first_signed":
        crm_api.sign(envelope_id, "1")
    before = _api("GET", f"/v1/envelopes/{envelope_id}")[1]
    # The envelope stays "sent" until every recipient has opened it; its first recipient moves.
    first = {"sent": "sent", "first_delivered": "delivered", "first_signed": "completed"}[state]
    assert (before["status"], before["recipients"][0]["status"]) == ("sent", first)
    status, accepted = _api("POST", f"/v1/envelopes/{envelope_id}/void", body={"reason": "Wrong price"})
    assert (status, accepted["status"], accepted["requestedBy"]) == (200, "void_requested", "user-3")
    view = _api("GET", f"/v1/envelopes/{envelope_id}")[1]
    assert (view["status"], view["voidedReason"]) == ("voided", "Wrong price")  # the callback, applied
    assert view["voidRequested"]["by"] == "user-3"
    status, again = _api("POST", f"/v1/envelopes/{envelope_id}/void", body={"reason": "again"})
    assert (status, again["error"]["code"]) == (409, "cannot_void")
    assert "voided" in again["error"]["message"]


@pytest.mark.parametrize("end", ["completed", "declined"])
def test_a_finished_envelope_cannot_be_voided(api: Api, crm_api: SimulatorControl, end: str) -> None:
    envelope_id = api.create()
    if end == "completed":
        crm_api.sign(envelope_id, "1")
        crm_api.sign(envelope_id, "2")
    else:
        crm_api.decline(envelope_id, "1", "No thanks")
    status, refused = _api("POST", f"/v1/envelopes/{envelope_id}/void", body={"reason": "late"})
    assert (status, refused["error"]["code"]) == (409, "cannot_void")
    assert end in refused["error"]["message"]


def test_docusign_refusals_become_the_apis(api: Api, crm_api: SimulatorControl) -> None:
    envelope_id = api.create()
    crm_api.add_fault("hourly_limit", count=1, method="PUT")
    answer = call("POST", f"/v1/envelopes/{envelope_id}/void", body={"reason": "x"}, claims=ULLA)
    assert answer["statusCode"] == 429
    assert int(answer["headers"]["Retry-After"]) >= 1
    crm_api.add_fault("503", count=10, method="PUT")
    status, body = _api("POST", f"/v1/envelopes/{envelope_id}/void", body={"reason": "x"})
    assert (status, body["error"]["code"]) == (502, "upstream_unavailable")


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "field"),
    [
        ("POST", "/v1/envelopes/{e}/void", "", {}, "reason"),
        ("POST", "/v1/envelopes/{e}/void", "", {"reason": "x" * 201}, "reason"),
        ("POST", "/v1/envelopes/{e}/void", "", {"reason": "x", "extra": 1}, "extra"),
        ("GET", "/v1/deals/deal-1001/envelopes", "limit=0", None, "limit"),
        ("GET", "/v1/deals/deal-1001/envelopes", "limit=many", None, "limit"),
        ("GET", "/v1/envelopes/{e}/documents/combined", "redirect=perhaps", None, "redirect"),
        ("GET", "/v1/envelopes/not%20an%20id", "", None, "envelope_id"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    api: Api, crm_api: SimulatorControl, *, method: str, path: str, query: str, body: Any, field: str
) -> None:
    envelope_id = api.create()
    status, refused = _api(method, path.replace("{e}", envelope_id), query=query, body=body)
    assert (status, refused["error"]["code"]) == (400, "invalid_request")
    assert field in refused["error"]["message"]


def test_a_caller_who_is_no_active_user_reads_no_envelope(api: Api, crm_api: SimulatorControl) -> None:
    envelope_id = api.create()
    status, refused = _api(
        "GET", f"/v1/envelopes/{envelope_id}", claims={"dealwire:tenant": "default", "sub": "nobody"}
    )
    assert (status, refused["error"]["code"]) == (403, "forbidden")


# -- threads of a deal and of a contact ------------------------------------------------------------


def test_a_deals_and_a_contacts_threads_are_listed_as_the_caller_may_see_them(aws: Stack) -> None:
    thread = filed(aws, "private", deals={"deal-42": ["person-17", "person-18"]})
    put_raw(aws, "m2", bcc_mail(to=f"Bob <{BOB}>", message_id="<bob@x>", subject="For Bob"))
    second = ingest(ses_event("m2"))["outcomes"][0]["threadId"]
    status, mine = _api("GET", "/v1/deals/deal-42/threads")
    assert status == 200
    assert {t["threadId"] for t in mine["threads"]} == {thread, second}
    assert _api("GET", "/v1/deals/deal-42/threads", claims=SAM) == (200, {"threads": [], "cursor": None})
    status, carla = _api("GET", "/v1/persons/person-17/threads")
    assert [t["threadId"] for t in carla["threads"]] == [thread]
    status, first = _api("GET", "/v1/deals/deal-42/threads", query="limit=1")
    assert len(first["threads"]) == 1
    assert first["cursor"]
    status, rest = _api("GET", "/v1/deals/deal-42/threads", query=f"limit=1&cursor={first['cursor']}")
    assert {t["threadId"] for t in first["threads"] + rest["threads"]} == {thread, second}


def test_a_threads_parts_are_links_to_their_bytes(aws: Stack) -> None:
    thread = filed(aws, "shared")
    status, page = _api("GET", f"/v1/threads/{thread}")
    assert status == 200
    (message,) = page["messages"]
    (text,) = [part for part in message["parts"] if part["role"] == "text"]
    status, _, data = follow(text["url"])
    assert status == 200
    assert data.startswith(b"Hi Carla")


def _api(
    method: str, path: str, *, query: str = "", body: Any = None, claims: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    return api(method, path, query=query, body=body, claims=claims or ULLA)


def test_a_body_that_is_not_json_text_is_refused_before_it_is_read(
    api: Api, crm_api: SimulatorControl
) -> None:
    """What schemathesis found: a form-typed body or bytes that are no UTF-8 answered 500."""
    from api import app
    from tests.integration.api_support import http_api_event

    envelope_id = api.create()
    event = http_api_event("POST", f"/v1/envelopes/{envelope_id}/void", body={"reason": "x"}, claims=ULLA)
    event["headers"]["content-type"] = "multipart/form-data"
    answer = app.lambda_handler(event, FakeContext())
    assert (answer["statusCode"], json.loads(answer["body"])["error"]["code"]) == (
        415,
        "unsupported_media_type",
    )
    event["headers"]["content-type"] = "application/json"
    event["body"], event["isBase64Encoded"] = "/+8=", True  # 0xff 0xef: no UTF-8
    answer = app.lambda_handler(event, FakeContext())
    assert (answer["statusCode"], json.loads(answer["body"])["error"]["code"]) == (400, "invalid_request")
    event["body"], event["isBase64Encoded"] = '{"reason": ', False
    assert app.lambda_handler(event, FakeContext())["statusCode"] == 400
