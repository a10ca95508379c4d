"""make run's whole loop: an envelope sent and signed in the simulator ends with its PDFs in S3."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from dealwire.docusign import client as client_module
from dealwire.docusign.client import DocuSignApp, DocuSignClient, TemplateRole
from infra.docusign_sim import SimulatorControl
from tests.e2e.test_local_stack import eventually

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e


def test_sent_and_signed_in_docusign_the_signed_pdf_and_certificate_land_in_s3(
    local_stack: LocalStack,
) -> None:
    state = local_stack.state
    secrets = local_stack.client("secretsmanager")
    app_secret = json.loads(secrets.get_secret_value(SecretId="dealwire/local/docusign-app")["SecretString"])
    docusign = DocuSignClient(
        DocuSignApp(
            integration_key=app_secret["integrationKey"],
            user_id=state["docusign_user_id"],
            private_key_pem=app_secret["privateKey"],
            auth_host=state["docusign_url"],
            account_id=state["docusign_account_id"],
        )
    )
    created = docusign.create_envelope_from_template(
        template_id="tpl-nda",
        roles=[
            TemplateRole(role_name="Signer 1", name="Alice Buyer", email="alice@example.com"),
            TemplateRole(role_name="Signer 2", name="Bob Seller", email="bob@example.com"),
        ],
        text_custom_fields={"dealwire_deal_id": "deal-2002"},
    )
    client_module._TOKENS.clear()
    control = SimulatorControl(state["docusign_url"])
    for recipient in ("1", "2"):
        control.sign(created.envelope_id, recipient)

    dynamodb = local_stack.client("dynamodb")
    key = {"pk": {"S": f"T#{state['tenant_id']}#ENV#{created.envelope_id}"}, "sk": {"S": "ENVELOPE"}}

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
        assert body == control.document(created.envelope_id, document_id, certificate=certificate)
