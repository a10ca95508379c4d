"""dealwire's own DocuSign integration credentials (one Secrets Manager secret) and a client per tenant.

Secret ``DEALWIRE_DOCUSIGN_APP_SECRET`` holds JSON
``{"integrationKey": "...", "privateKey": "-----BEGIN RSA PRIVATE KEY-----..."}``: the
integration key and the RSA key of its JWT grant. Each tenant names the DocuSign user to
impersonate and its account; consent is given once per user.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic.alias_generators import to_camel

from dealwire.store.tenants import TenantConfigError, fetch_secret

if TYPE_CHECKING:
    from collections.abc import Callable

    from dealwire.docusign.client import DocuSignClient
    from dealwire.store.tenants import TenantConfig

SECRET_MAX_AGE = 300


class DocuSignAppSecret(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    integration_key: str
    private_key: SecretStr


def load_app_secret(raw: str | None, name: str) -> DocuSignAppSecret:
    if raw is None:
        raise TenantConfigError(f"the DocuSign integration secret {name!r} does not exist")
    try:
        return DocuSignAppSecret.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise TenantConfigError(f"the DocuSign integration secret {name!r} is malformed") from exc


def docusign_client_factory(
    secret_name: str,
    auth_host: str,
    base_uri: str | None,
    fetch: Callable[[str, int], str | None] = fetch_secret,
) -> Callable[[TenantConfig], DocuSignClient]:
    """A function giving each tenant its client, kept across warm invocations (and so its token)."""
    made: dict[tuple[str, str, str], DocuSignClient] = {}

    def client_for(tenant: TenantConfig) -> DocuSignClient:
        from dealwire.docusign.client import DocuSignApp, DocuSignClient  # noqa: PLC0415 - httpx, pyjwt

        app = load_app_secret(fetch(secret_name, SECRET_MAX_AGE), secret_name)
        user_id = tenant.docusign_user_id or ""
        key = (app.integration_key, user_id, tenant.docusign_account_id)
        if key not in made:
            made[key] = DocuSignClient(
                DocuSignApp(
                    integration_key=app.integration_key,
                    user_id=user_id,
                    private_key_pem=app.private_key.get_secret_value(),
                    auth_host=auth_host,
                    account_id=tenant.docusign_account_id,
                    base_uri=base_uri,
                )
            )
        return made[key]

    return client_for
