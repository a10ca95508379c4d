"""make run's whole loop: an envelope sent and signed in the simulator ends with its PDFs in S3."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from infra.docusign_sim import SimulatorControl
from infra.local.send import send_envelope
from tests.e2e.test_local_stack import eventually

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def test_sent_and_signed_in_docusign_the_signed_pdf_and_certificate_land_in_s3(
    local_stack: LocalStack,
) -> None:
    state = local_stack.state
    envelope_id = send_envelope(state, local_stack.client("secretsmanager"), deal="deal-2002")
    control = SimulatorControl(state["docusign_url"])
    for recipient in ("1", "2"):
        control.sign(envelope_id, recipient)

    dynamodb = local_stack.client("dynamodb")
    key = {"pk": {"S": f"T#{state['tenant_id']}#ENV#{envelope_id}"}, "sk": {"S": "ENVELOPE"}}

    def recorded() -> dict[str, object] | None:
        item = dynamodb.get_item(TableName=state["table_name"], Key=key).get("Item", {})
        documents = item.get("signed_documents", {}).get("M")
        return documents if isinstance(documents, dict) and documents else None

    documents = eventually(recorded, "the document job to record the signed documents", timeout=30)
    assert set(documents) == {"combined", "certificate"}
    s3 = local_stack.client("s3")
    for name, certificate in (("combined", False), ("certificate", True)):
        stored_key = documents[name]["M"]["key"]["S"]  # type: ignore[index]
        body = s3.get_object(Bucket=state["documents_bucket"], Key=stored_key)["Body"].read()
        document_id = name
        assert body == control.document(envelope_id, document_id, certificate=certificate)
