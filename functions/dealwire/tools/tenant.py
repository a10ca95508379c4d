"""The operator's side of connecting tenants to DocuSign, for scripts and the first tenant.

    python -m dealwire.tools.tenant connect    --tenant T --user-id GUID [--account-id GUID]
    python -m dealwire.tools.tenant status     --tenant T
    python -m dealwire.tools.tenant rotate-key --tenant T [--finish]
    python -m dealwire.tools.tenant disconnect --tenant T

It does what the ``/v1/integrations/docusign`` routes do, as the operator (AWS credentials
that may write the tenants' secrets) rather than as a tenant admin. Settings are the
integrations function's environment variables (``DEALWIRE_TABLE_NAME``,
``DEALWIRE_TENANT_SECRET_PREFIX``, ``DEALWIRE_DOCUSIGN_APP_SECRET``,
``DEALWIRE_DOCUSIGN_AUTH_HOST``, ``DEALWIRE_DOCUSIGN_CONSENT_REDIRECT_URI`` and
``DEALWIRE_WEBHOOK_BASE_URL``, required here); boto3 finds the credentials, region and
endpoint as usual (``AWS_ENDPOINT_URL`` for a local stack). Answers are printed as JSON.
Exit status: 0 done, 1 refused (the message says why), 2 misused or not configured,
3 the DocuSign user must consent first (the consent URL is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from dealwire.api.errors import ApiRefusal
from dealwire.settings import IntegrationsSettings, SettingsError, load_settings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dealwire.integration.connection import DocuSignConnection

OPERATOR = "operator"
EXIT_REFUSED, EXIT_USAGE, EXIT_CONSENT = 1, 2, 3


def _connection(settings: IntegrationsSettings) -> DocuSignConnection:
    from dealwire.integration.connection import DocuSignConnection  # noqa: PLC0415 - after the settings

    return DocuSignConnection.from_settings(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dealwire.tools.tenant", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    connect = commands.add_parser("connect", help="record the account, make the key and the configuration")
    connect.add_argument("--user-id", required=True, help="the DocuSign user to impersonate (API user id)")
    connect.add_argument("--account-id", default=None, help="the DocuSign account (default: the user's)")
    commands.add_parser("status", help="the health check, with its findings")
    rotate = commands.add_parser("rotate-key", help="add an HMAC key (--finish: drop the old)")
    rotate.add_argument(
        "--finish",
        action="store_true",
        help="end the rotation now that a callback was verified with the new key",
    )
    commands.add_parser("disconnect", help="delete the Connect configuration and the keys; data stays")
    for command in commands.choices.values():
        command.add_argument("--tenant", required=True, help="the tenant id")
    return parser


def run(args: argparse.Namespace, connection: DocuSignConnection, settings: IntegrationsSettings) -> Any:  # noqa: ANN401 - what the command answers, as JSON
    from dealwire.integration.configuration import webhook_url  # noqa: PLC0415

    tenant = str(args.tenant)
    url = webhook_url(settings.webhook_base_url, tenant)
    if args.command == "connect":
        connection.connect(tenant, OPERATOR, args.user_id, args.account_id, url)
        return connection.status(tenant, url)
    if args.command == "status":
        return connection.status(tenant, url)
    if args.command == "rotate-key" and args.finish:
        return _finish(connection, tenant)
    if args.command == "rotate-key":
        return connection.rotate_key(tenant, OPERATOR)
    return connection.disconnect(tenant, OPERATOR, url)


def _finish(connection: DocuSignConnection, tenant: str) -> dict[str, Any]:
    rotation = connection.rotation(tenant)
    if rotation is None:
        raise ApiRefusal("no key rotation is under way", code="no_rotation")
    if not rotation.verified_at:
        raise ApiRefusal(
            f"no callback has been verified with the new key {rotation.new_key_id} yet: ending the "
            "rotation now could refuse DocuSign's callbacks; wait for one",
            code="not_verified",
        )
    return {"finished": connection.finish_rotation(tenant, rotation.new_key_id), "keyId": rotation.new_key_id}


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    source = dict(os.environ if environ is None else environ)
    # Powertools' namespace matters to the functions only; the operator's run publishes no metrics.
    source.setdefault("POWERTOOLS_METRICS_NAMESPACE", "dealwire")
    try:
        settings = load_settings(IntegrationsSettings, source)
    except SettingsError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_USAGE
    if not settings.webhook_base_url:
        sys.stderr.write(
            "DEALWIRE_WEBHOOK_BASE_URL must name the webhook's public root (the stack's ApiUrl host)\n"
        )
        return EXIT_USAGE
    from dealwire.docusign.errors import ConsentRequired  # noqa: PLC0415

    try:
        answer = run(args, _connection(settings), settings)
    except ApiRefusal as refusal:
        consent = refusal.__cause__ if isinstance(refusal.__cause__, ConsentRequired) else None
        sys.stderr.write(f"{args.command}: {refusal.code}: {refusal.message}\n")
        if consent is not None:
            sys.stdout.write(json.dumps({"consentUrl": consent.consent_url}) + "\n")
            return EXIT_CONSENT
        return EXIT_REFUSED
    body = answer.model_dump(mode="json", by_alias=True) if hasattr(answer, "model_dump") else answer
    sys.stdout.write(json.dumps(body, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
