"""Tenants' DocuSign settings: one Secrets Manager secret per tenant, cached per container.

Secret ``<prefix><tenantId>`` holds JSON:
``{"docusignAccountId": "...", "docusignUserId": "...", "docusignBaseUri": "https://demo.docusign.net",
"connectConfigurationId": "...", "hmacKeys": ["...", {"key": "...", "keyId": "...", "state": "new",
"addedAt": "..."}], "timeZone": "Europe/Berlin", "mail": {"ignorePlusTags": true,
"dotInsensitiveDomains": ["gmail.com"], "notifyRejections": true}}``.
Connecting the tenant (``dealwire.integration``) writes the DocuSign part; a key is a
string, or an object naming DocuSign's id for it and whether it is a rotation's new key.
Keys never leave this module unmasked except to the signature check.
"""

from __future__ import annotations

import json
import time
from functools import cache, cached_property
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from dealwire.domain.ids import TENANT_ID_PATTERN, is_tenant_id
from dealwire.store import clients

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


# The shortest time between two reads of one tenant's secret past the cache.
REFRESH_SECONDS = 10.0


class TenantConfigError(RuntimeError):
    """A tenant's secret exists but cannot be used; the operator must fix it."""


class TenantMail(BaseModel):
    """Smart BCC settings: how the account compares its users' addresses."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    ignore_plus_tags: bool = True
    dot_insensitive_domains: tuple[str, ...] = ("gmail.com", "googlemail.com")
    # Refusals of mail from a sender the account could know are published as mail.rejected.
    notify_rejections: bool = True


class HmacKey(BaseModel):
    """One Connect HMAC key: DocuSign signs every callback with each of the account's keys."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    key: SecretStr
    # DocuSign's id for the key (to delete it there); None for a key pasted by hand.
    key_id: str | None = None
    # "new": added by a rotation that ends once a callback is verified with it.
    state: Literal["active", "new"] = "active"
    added_at: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        return {"key": value} if isinstance(value, str) else value


class TenantConfig(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    docusign_account_id: str = Field(min_length=1)
    hmac_keys: tuple[HmacKey, ...] = ()
    time_zone: str = "UTC"
    # The DocuSign user dealwire impersonates (JWT grant) for API calls on this account.
    docusign_user_id: str | None = None
    # The account's base URI from /oauth/userinfo (``https://demo.docusign.net``), kept when
    # the tenant is connected so no call has to look it up again.
    docusign_base_uri: str | None = None
    # The account's Connect configuration dealwire created (its connectId).
    connect_configuration_id: str | None = None
    mail: TenantMail = TenantMail()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def key_values(self) -> list[str]:
        return [key.key.get_secret_value() for key in self.hmac_keys if key.key.get_secret_value()]

    def new_key_among(self, positions: Iterable[int]) -> str | None:
        """DocuSign's id of the rotation's new key, if it is among ``positions`` of ``key_values()``."""
        usable = [key for key in self.hmac_keys if key.key.get_secret_value()]
        return next(
            (
                usable[p].key_id
                for p in sorted(positions)
                if 0 <= p < len(usable) and usable[p].state == "new" and usable[p].key_id
            ),
            None,
        )


class TenantDirectory:
    """Looks tenants up by id.

    Secrets are cached by Powertools parameters for ``max_age_seconds``; a miss is
    remembered as long, so a flood of unknown tenant ids costs no extra calls.
    """

    def __init__(
        self,
        secret_prefix: str,
        max_age_seconds: int,
        fetch: Callable[[str, int, bool], str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prefix = secret_prefix
        self._max_age = max_age_seconds
        self._fetch = fetch or fetch_secret
        self._clock = clock
        self._misses: dict[str, float] = {}
        self._refreshed: dict[str, float] = {}
        self._parsed: dict[str, tuple[str, TenantConfig]] = {}

    def get(self, tenant_id: str) -> TenantConfig | None:
        now = self._clock()
        if self._misses.get(tenant_id, 0.0) > now:
            return None
        return self._load(tenant_id, now)

    def refreshed(self, tenant_id: str) -> TenantConfig | None:
        """The secret read again past the cache (its keys may have been rotated since it was
        cached); None when it was read again less than ``REFRESH_SECONDS`` ago, so a flood
        of forged signatures costs at most one read per tenant every few seconds."""
        now = self._clock()
        if now - self._refreshed.get(tenant_id, float("-inf")) < REFRESH_SECONDS:
            return None
        self._refreshed[tenant_id] = now
        self._misses.pop(tenant_id, None)
        return self._load(tenant_id, now, force=True)

    def _load(self, tenant_id: str, now: float, *, force: bool = False) -> TenantConfig | None:
        raw = self._fetch(self._prefix + tenant_id, self._max_age, force)
        if raw is None:
            self._misses[tenant_id] = now + self._max_age
            return None
        known = self._parsed.get(tenant_id)
        if known is not None and known[0] == raw:
            return known[1]
        config = _parse(tenant_id, raw)
        self._parsed[tenant_id] = (raw, config)
        return config


def _parse(tenant_id: str, raw: str) -> TenantConfig:
    try:
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise TypeError("not a JSON object")
        return TenantConfig.model_validate({**document, "tenantId": tenant_id})
    except (ValueError, TypeError, ValidationError) as exc:
        # Never echo the secret: name the problem only.
        detail = (
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            if isinstance(exc, ValidationError)
            else type(exc).__name__
        )
        raise TenantConfigError(f"tenant {tenant_id!r} secret is malformed: {detail}") from None


@cache
def _provider() -> SecretsProvider:
    return SecretsProvider(boto3_client=clients.secretsmanager())


def fetch_secret(name: str, max_age: int, force: bool = False) -> str | None:
    """The secret's value, from the cache while younger than ``max_age``; ``force`` reads it
    now and caches what it read for ``max_age`` (Powertools keeps nothing read with a
    ``max_age`` of 0, so a forced read must pass the real one to replace a stale entry)."""
    try:
        value = _provider().get(name, max_age=max_age, force_fetch=force)
    except GetParameterError as exc:
        cause = exc.__context__
        if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == (
            "ResourceNotFoundException"
        ):
            return None
        raise
    return value if isinstance(value, str) else None


def tenant_ids(secret_prefix: str) -> list[str]:
    """Every tenant with a secret under ``secret_prefix``: ListSecrets by name prefix, 100 a
    page (the tenants are their secrets; nothing else lists them). Names that are no tenant
    id (a secret filed there by hand) are left out."""
    found: list[str] = []
    pages = clients.secretsmanager().get_paginator("list_secrets")
    for page in pages.paginate(
        Filters=[{"Key": "name", "Values": [secret_prefix]}], PaginationConfig={"PageSize": 100}
    ):
        for entry in page.get("SecretList", []):
            name = str(entry.get("Name", ""))
            # The name filter matches a prefix of any word of the name: check the whole prefix.
            if name.startswith(secret_prefix) and is_tenant_id(name[len(secret_prefix) :]):
                found.append(name[len(secret_prefix) :])
    return sorted(set(found))


def reset() -> None:
    """Forget the provider and its cache (tests start a new moto backend per test)."""
    _provider.cache_clear()
