"""Changing tenants' secrets: only the integrations function may, and only under its prefix.

Reads here are fresh (no cache): a change is read, amended and written back whole under
the tenant's lease (``IntegrationStore.acquire``), so fields this code does not know (the
mail settings, a time zone) survive every write.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dealwire.store import clients
from dealwire.store.table import error_code
from dealwire.store.tenants import TenantConfigError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class TenantSecrets:
    def __init__(
        self, prefix: str, client: SecretsManagerClient | None = None, *, kms_key_id: str = ""
    ) -> None:
        self._prefix = prefix
        self._client = client
        # A new secret is encrypted with this key (the stack's KmsKeyArn); "" is aws/secretsmanager.
        self._kms_key_id = kms_key_id

    @property
    def client(self) -> SecretsManagerClient:
        return self._client or clients.secretsmanager()

    def name(self, tenant_id: str) -> str:
        return self._prefix + tenant_id

    def read(self, tenant_id: str) -> dict[str, Any] | None:
        """The tenant's secret as JSON, or None when there is none."""
        try:
            raw = self.client.get_secret_value(SecretId=self.name(tenant_id))["SecretString"]
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise TenantConfigError(f"tenant {tenant_id!r} secret is not a JSON object: fix it by hand first")
        return document

    def write(self, tenant_id: str, document: dict[str, Any]) -> None:
        """Store ``document`` as the tenant's secret, creating the secret if need be."""
        value = json.dumps(document, separators=(",", ":"), sort_keys=True)
        try:
            self.client.put_secret_value(SecretId=self.name(tenant_id), SecretString=value)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            description = f"dealwire: tenant {tenant_id}'s DocuSign account, keys and settings"
            if self._kms_key_id:
                self.client.create_secret(
                    Name=self.name(tenant_id),
                    SecretString=value,
                    Description=description,
                    KmsKeyId=self._kms_key_id,
                )
            else:
                self.client.create_secret(
                    Name=self.name(tenant_id), SecretString=value, Description=description
                )
