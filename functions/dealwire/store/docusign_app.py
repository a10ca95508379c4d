"""dealwire's own DocuSign integration credentials (one Secrets Manager secret) and a client per user.

Secret ``DEALWIRE_DOCUSIGN_APP_SECRET`` holds JSON
``{"integrationKey": "...", "privateKey": "-----BEGIN RSA PRIVATE KEY-----..."}``: the
integration key and the RSA key of its JWT grant. Each tenant names the DocuSign user to
impersonate and its account; consent is given once per user.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic.alias_generators import to_camel

from dealwire.store.tenants import TenantConfigError, fetch_secret

if TYPE_CHECKING:
    from collections.abc import Callable

    from dealwire.docusign.client import DocuSignClient
    from dealwire.settings import DocuSignCallerSettings
    from dealwire.store.budget import BudgetLedger, Spender
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


class DocuSignAccess:
    """The integration as one DocuSign user of one account: a client per (user, account),
    kept across warm invocations (and so its token).

    ``base_uri`` (a REST root, ``.../restapi``) overrides every account's (the local
    simulator); else a tenant's recorded base URI is used, else ``/oauth/userinfo``'s.
    """

    def __init__(
        self,
        secret_name: str,
        auth_host: str,
        base_uri: str | None,
        fetch: Callable[[str, int], str | None] = fetch_secret,
        ledger: BudgetLedger | None = None,
    ) -> None:
        self._secret_name = secret_name
        self.auth_host = auth_host
        self._base_uri = base_uri or None
        self._fetch = fetch
        self._made: dict[tuple[str, str, str, str], DocuSignClient] = {}
        self._ledger = ledger
        # The clients handed out since the last settle, by the tenant they served.
        self._used: dict[str, dict[int, DocuSignClient]] = {}

    def app(self) -> DocuSignAppSecret:
        return load_app_secret(self._fetch(self._secret_name, SECRET_MAX_AGE), self._secret_name)

    def client(
        self,
        user_id: str,
        account_id: str,
        account_base_uri: str | None = None,
        *,
        tenant_id: str | None = None,
    ) -> DocuSignClient:
        """``account_base_uri``: the account's base URI as ``/oauth/userinfo`` gives it (no ``/restapi``);
        ``tenant_id``: whose hourly budget the calls spend (recorded by ``settle``)."""
        from dealwire.docusign.client import DocuSignApp, DocuSignClient  # noqa: PLC0415 - httpx, pyjwt

        app = self.app()
        recorded = f"{account_base_uri.rstrip('/')}/restapi" if account_base_uri else None
        rest_root = self._base_uri or recorded
        key = (app.integration_key, user_id, account_id, rest_root or "")
        if key not in self._made:
            self._made[key] = DocuSignClient(
                DocuSignApp(
                    integration_key=app.integration_key,
                    user_id=user_id,
                    private_key_pem=app.private_key.get_secret_value(),
                    auth_host=self.auth_host,
                    account_id=account_id,
                    base_uri=rest_root,
                )
            )
        client = self._made[key]
        if tenant_id is not None:
            self._used.setdefault(tenant_id, {})[id(client)] = client
        return client

    def for_tenant(self, tenant: TenantConfig) -> DocuSignClient:
        user = tenant.docusign_user_id or ""
        return self.client(
            user, tenant.docusign_account_id, tenant.docusign_base_uri, tenant_id=tenant.tenant_id
        )

    def settle(self) -> list[str]:
        """Record in each tenant's hourly budget what this invocation's calls spent (one write per
        tenant served). Bookkeeping: a failure is given back to be logged, never raised, so it
        cannot fail the work the calls did."""
        used, self._used = self._used, {}
        if self._ledger is None:
            return []
        problems = []
        for tenant_id, clients in used.items():
            for client in clients.values():
                try:
                    self._ledger.settle(tenant_id, client)
                except (ClientError, BotoCoreError) as exc:
                    problems.append(f"tenant {tenant_id}: {exc}")
        return problems


def spending_access(settings: DocuSignCallerSettings, by: Spender) -> DocuSignAccess:
    """The function's DocuSign access as its settings name it; what its calls spend goes in each
    tenant's hourly budget, as ``by``'s."""
    from dealwire.store.budget import BudgetLedger, BudgetStore  # noqa: PLC0415

    return DocuSignAccess(
        settings.docusign_app_secret,
        settings.docusign_auth_host,
        settings.docusign_base_uri or None,
        ledger=BudgetLedger(BudgetStore(settings.table_name), by),
    )


def docusign_client_factory(
    secret_name: str,
    auth_host: str,
    base_uri: str | None,
    fetch: Callable[[str, int], str | None] = fetch_secret,
) -> Callable[[TenantConfig], DocuSignClient]:
    """A function giving each tenant its client, kept across warm invocations (and so its token)."""
    return DocuSignAccess(secret_name, auth_host, base_uri, fetch).for_tenant
