"""An account's Connect configurations, HMAC keys and delivery failures, through DocuSign's REST API.

The configuration is DocuSign's ``connectCustomConfiguration`` (v2.1), whose flags are the
strings ``"true"`` / ``"false"``; unknown fields are kept, so an update sends back what it
read. DocuSign documents the HMAC key calls (``connect/secret``) without their bodies: a
key is read from an object (``keyId`` and ``secret``, ``secretKey`` or ``hmacSecret``) or
from a bare string in a ``secrets`` list (its id is then its 1-based position).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from dealwire.docusign.errors import DocuSignError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dealwire.docusign.client import DocuSignClient

_SECRET_FIELDS: Final = ("secret", "secretKey", "hmacSecret", "key", "value")
_ID_FIELDS: Final = ("keyId", "id", "secretId")
# DocuSign's keys are 32 random bytes in base64 (44 characters); a listing masks them.
_MASKS: Final = "*•…"


class EventData(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    version: str = "restv2.1"
    format: str = "json"
    include_data: list[str] = Field(default_factory=list)


class ConnectConfiguration(BaseModel):
    """DocuSign's connectCustomConfiguration, the fields dealwire sets or checks."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    connect_id: str | None = None
    name: str = ""
    configuration_type: str = "custom"
    url_to_publish_to: str = ""
    allow_envelope_publish: str = "true"
    all_users: str = "true"
    enable_log: str = "true"
    requires_acknowledgement: str = "true"
    include_hmac: str = Field(default="false", alias="includeHMAC")
    delivery_mode: str = "SIM"
    events: list[str] = Field(default_factory=list)
    event_data: EventData = Field(default_factory=EventData)
    include_documents: str = "false"
    include_certificate_of_completion: str = "false"
    include_envelope_void_reason: str = "true"
    include_time_zone_information: str = "true"
    disabled_by: str | None = None
    pause_publish: str | None = None

    @property
    def enabled(self) -> bool:
        return (
            self.allow_envelope_publish.lower() == "true"
            and not self.disabled_by
            and (self.pause_publish or "false").lower() != "true"
        )

    def body(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class AccountHmacKey(BaseModel):
    """A key as DocuSign lists it: its id, and the key itself only when DocuSign gives it whole."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    shown: str = ""

    @property
    def whole(self) -> bool:
        return len(self.shown) >= 32 and not any(mask in self.shown for mask in _MASKS)

    def may_be(self, key: str) -> bool:
        """Whether this listing could be ``key``: what it leaves unmasked begins and ends it."""
        if self.whole:
            return self.shown == key
        masked = [i for i, char in enumerate(self.shown) if char in _MASKS]
        if not masked:
            return False
        head, tail = self.shown[: masked[0]], self.shown[masked[-1] + 1 :]
        return bool(head or tail) and key.startswith(head) and key.endswith(tail)


class ConnectFailure(BaseModel):
    """One entry of the account's Connect failure log (DocuSign's connectLog)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    failure_id: str | None = None
    envelope_id: str | None = None
    connect_id: str | None = None
    config_url: str | None = None
    created: str | None = None
    last_try: str | None = None
    retry_count: str | None = None
    status: str | None = None
    error: str | None = None


# Envelopes named in one retry request (DocuSign documents no limit; listStatusChanges' own).
REPUBLISH_PER_CALL = 100


class ConnectAdmin:
    """The account's Connect settings, through one tenant's client (its budget, its retries)."""

    def __init__(self, client: DocuSignClient) -> None:
        self._client = client

    def configurations(self) -> list[ConnectConfiguration]:
        answer = self._client.request("GET", "connect").json()
        return [_configuration(item) for item in answer.get("configurations") or []]

    def create(self, configuration: ConnectConfiguration) -> ConnectConfiguration:
        body = {k: v for k, v in configuration.body().items() if k != "connectId"}
        return _configuration(self._client.request("POST", "connect", json=body).json())

    def update(self, configuration: ConnectConfiguration) -> ConnectConfiguration:
        if not configuration.connect_id:
            raise ValueError("an update names the configuration's connectId")
        answer = self._client.request("PUT", "connect", json=configuration.body())
        return _configuration(answer.json()) if answer.content else configuration

    def delete(self, connect_id: str) -> None:
        self._client.request("DELETE", f"connect/{connect_id}")

    def hmac_keys(self) -> list[AccountHmacKey]:
        return _listed_keys(self._client.request("GET", "connect/secret").json())

    def create_hmac_key(self) -> AccountHmacKey:
        """A new key, whole: DocuSign gives it back once, in this answer only."""
        answer = self._client.request("POST", "connect/secret")
        document = answer.json() if answer.content else {}
        created = [key for key in _listed_keys(document) if key.whole]
        if not created:
            raise DocuSignError(
                502,
                "HMAC_KEY_NOT_RETURNED",
                "DocuSign created an HMAC key but did not return it: delete it in DocuSign's Connect "
                "settings (Connect Keys) and add one there by hand, then store it in the tenant's secret",
            )
        return created[-1]

    def delete_hmac_key(self, key_id: str) -> None:
        self._client.request("DELETE", f"connect/secret/{key_id}")

    def failures(self, since: datetime) -> list[ConnectFailure]:
        answer = self._client.request(
            "GET",
            "connect/failures",
            params={"from_date": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        ).json()
        found = []
        for item in answer.get("failures") or []:
            try:
                found.append(ConnectFailure.model_validate(item))
            except ValidationError:
                continue  # one unreadable entry does not hide the others
        return found

    def republish(self, envelope_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Ask DocuSign to deliver the envelopes' Connect messages again (retryEventForEnvelopes):
        one call per 100 envelopes; DocuSign's answer per envelope (``retryQueue``)."""
        queued: list[dict[str, Any]] = []
        for start in range(0, len(envelope_ids), REPUBLISH_PER_CALL):
            batch = list(envelope_ids[start : start + REPUBLISH_PER_CALL])
            answer = self._client.request("PUT", "connect/envelopes/retry_queue", json={"envelopeIds": batch})
            document = answer.json() if answer.content else {}
            entries = document.get("retryQueue") if isinstance(document, dict) else None
            queued.extend(entry for entry in entries or [] if isinstance(entry, dict))
        return queued


def _configuration(document: Any) -> ConnectConfiguration:  # noqa: ANN401 - DocuSign's JSON
    try:
        return ConnectConfiguration.model_validate(document)
    except ValidationError as exc:
        raise DocuSignError(502, "CONNECT_CONFIGURATION_UNREADABLE", str(exc)[:300]) from exc


def _listed_keys(document: Any) -> list[AccountHmacKey]:  # noqa: ANN401 - DocuSign's JSON
    """Every key in an answer, in DocuSign's order: a list, ``{"secrets": [...]}``, or one key."""
    if isinstance(document, dict):
        listed = ("secrets", "hmacSecrets", "keys")
        entries = next((document[name] for name in listed if name in document), None)
        if entries is None:
            entries = [document] if any(name in document for name in _SECRET_FIELDS) else []
    else:
        entries = document if isinstance(document, list) else []
    found = []
    for position, entry in enumerate(entries, start=1):
        if isinstance(entry, str):
            found.append(AccountHmacKey(key_id=str(position), shown=entry))
        elif isinstance(entry, dict):
            shown = next((str(entry[name]) for name in _SECRET_FIELDS if entry.get(name)), "")
            key_id = next((str(entry[name]) for name in _ID_FIELDS if entry.get(name)), str(position))
            found.append(AccountHmacKey(key_id=key_id, shown=shown))
    return found
