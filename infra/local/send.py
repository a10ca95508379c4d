"""`python -m infra.local.send`: send an envelope from the simulator's template, as stage_trigger will."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.local.offline import go_offline
from infra.local.show import DEFAULT_STATE_FILE, load_state
from infra.local.template import ROOT

if TYPE_CHECKING:
    from collections.abc import Sequence


def send_envelope(state: dict[str, Any], secrets: Any, *, deal: str, template: str = "tpl-nda") -> str:  # noqa: ANN401
    """Create and send an envelope in the simulator as dealwire's integration; its id."""
    from dealwire.docusign.client import DocuSignApp, DocuSignClient, TemplateRole  # noqa: PLC0415

    app_secret = json.loads(secrets.get_secret_value(SecretId=state["docusign_app_secret"])["SecretString"])
    docusign = DocuSignClient(
        DocuSignApp(
            integration_key=app_secret["integrationKey"],
            user_id=state["docusign_user_id"],
            private_key_pem=app_secret["privateKey"],
            auth_host=state["docusign_url"],
            account_id=state["docusign_account_id"],
        )
    )
    try:
        created = docusign.create_envelope_from_template(
            template_id=template,
            roles=[
                TemplateRole(role_name="Signer 1", name="Alice Buyer", email="alice@example.com"),
                TemplateRole(role_name="Signer 2", name="Bob Seller", email="bob@example.com"),
            ],
            email_subject=f"Please sign: {deal}",
            text_custom_fields={"dealwire_deal_id": deal},
        )
    finally:
        docusign.close()
    return created.envelope_id


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.send", description=__doc__)
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    parser.add_argument("--deal", default="deal-1001", help="the deal the envelope belongs to")
    parser.add_argument("--template", default="tpl-nda")
    args = parser.parse_args(argv)
    state = load_state(args.state_file)
    os.environ.update({"AWS_ENDPOINT_URL": state["aws_endpoint_url"], "AWS_DEFAULT_REGION": state["region"]})
    go_offline()
    # The functions' code root, as Lambda has it, for the DocuSign client.
    functions = str(ROOT / "functions")
    if functions not in sys.path:
        sys.path.insert(0, functions)
    import boto3  # noqa: PLC0415 - after the environment points at moto

    print(send_envelope(state, boto3.client("secretsmanager"), deal=args.deal, template=args.template))
    return 0


if __name__ == "__main__":
    sys.exit(main())
