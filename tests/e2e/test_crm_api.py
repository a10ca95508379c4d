"""The CRM API over make run: the gateway's JWT authorizer, the tracker, a signed PDF through its link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from infra.docusign_sim import SimulatorControl
from infra.local.send import send_envelope
from tests.e2e.test_local_stack import eventually

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def get(stack: LocalStack, path: str, token: str | None = None, **params: str) -> httpx.Response:
    token = stack.state["api_token"] if token is None else token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(
        f"{stack.state['api_url']}{path}", headers=headers, params=params, timeout=10, trust_env=False
    )


def progress(stack: LocalStack, envelope_id: str) -> Any:
    answer = get(stack, f"/envelopes/{envelope_id}")
    return answer.json().get("progress") if answer.status_code == 200 else None


def test_the_tracker_reads_through_the_api_and_the_signed_pdf_downloads_byte_for_byte(
    local_stack: LocalStack,
) -> None:
    state = local_stack.state
    envelope_id = send_envelope(state, local_stack.client("secretsmanager"), deal="deal-3003")
    control = SimulatorControl(state["docusign_url"])
    control.sign(envelope_id, "1")
    assert eventually(
        lambda: progress(local_stack, envelope_id) == "1/2 signed", "1/2 signed through the API"
    )
    control.sign(envelope_id, "2")
    assert eventually(
        lambda: progress(local_stack, envelope_id) == "2/2 signed", "2/2 signed through the API"
    )

    listed = get(local_stack, "/deals/deal-3003/envelopes").json()
    assert [e["envelopeId"] for e in listed["envelopes"]] == [envelope_id]

    def link() -> str | None:
        answer = get(local_stack, f"/envelopes/{envelope_id}/documents/combined", redirect="false")
        return str(answer.json()["url"]) if answer.status_code == 200 else None

    url = eventually(link, "the signed PDF to be stored and linked", timeout=30)
    pdf = httpx.get(url, timeout=10, trust_env=False)
    assert pdf.status_code == 200
    assert pdf.content == control.document(envelope_id, "combined", certificate=False)


def test_the_gateway_answers_401_as_api_gateway_does(local_stack: LocalStack) -> None:
    assert get(local_stack, "/envelopes/e-1", token="").status_code == 401
    refused = get(local_stack, "/envelopes/e-1", token="not.a.token")
    assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})


def test_the_api_documents_itself(local_stack: LocalStack) -> None:
    base = local_stack.state["http_url"]
    document = httpx.get(f"{base}/openapi.json", timeout=10, trust_env=False).json()
    assert "/v1/envelopes/{envelope_id}" in document["paths"]
    page = httpx.get(local_stack.state["api_docs_url"], timeout=10, trust_env=False)
    assert page.status_code == 200
    assert "swagger" in page.text.lower()


def test_make_run_connected_its_tenant_through_the_api(local_stack: LocalStack) -> None:
    """No key written by hand: the simulator's account holds the one key DocuSign generated,
    the tenant's secret (and local.json) the same, and one configuration sends to the webhook."""
    state = local_stack.state
    sim = SimulatorControl(state["docusign_url"])
    (key,) = sim.hmac_keys()
    assert state["docusign_hmac_keys"] == [key["secret"]]
    (configuration,) = sim.configurations()
    assert configuration["urlToPublishTo"] == f"{state['http_url']}/webhooks/docusign/{state['tenant_id']}"
    health = get(local_stack, "/integrations/docusign", token=state["admin_token"])
    assert health.status_code == 200, health.text
    assert health.json()["connectConfigurationId"] == str(configuration["connectId"])
    assert not [f for f in health.json()["findings"] if f["severity"] == "error"]
    refused = get(local_stack, "/integrations/docusign")  # the plain user's token
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
