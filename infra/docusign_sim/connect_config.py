"""The account's Connect configurations (REST v2.1 connectCustomConfiguration): validated, stored, listed.

A configuration is kept as DocuSign echoes it, camelCase keys and every value DocuSign types
as a string a string ("true"/"false"), so the REST answers are the stored dict itself. The
store is not locked: call it under the account lock.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from infra.docusign_sim.connect import FORMATS, ConnectSettings
from infra.docusign_sim.errors import SimError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

# The JSON SIM event names DocuSign documents for a custom configuration's ``events``.
KNOWN_EVENTS = (
    "envelope-sent",
    "envelope-resent",
    "envelope-delivered",
    "envelope-completed",
    "envelope-declined",
    "envelope-voided",
    "envelope-created",
    "envelope-deleted",
    "recipient-sent",
    "recipient-resent",
    "recipient-autoresponded",
    "recipient-delivered",
    "recipient-completed",
    "recipient-declined",
)
INCLUDE_DATA = (
    "recipients",
    "custom_fields",
    "documents",
    "tabs",
    "payment_tabs",
    "powerform",
    "attachments",
    "extensions",
    "folders",
    "prefill_tabs",
)
# What of includeData the simulator's messages carry inside envelopeSummary.
_SUMMARY_DATA = frozenset({"recipients", "custom_fields"})
EVENT_DATA_VERSION = "restv2.1"
DELIVERY_MODES = ("SIM", "aggregate")
STARTUP_NAME = "sim (start-up settings)"
DISABLED_BY = "System"  # the simulator's guess at what DocuSign writes when it disables a failing one
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

# connectCustomConfiguration's string fields that hold "true"/"false".
_FLAGS = frozenset(
    {
        "allowEnvelopePublish",
        "allowSalesforcePublish",
        "allUsers",
        "allUsersExcept",
        "enableLog",
        "enableOAuthPerConfiguration",
        "includeCertificateOfCompletion",
        "includeCertSoapHeader",
        "includeDocumentFields",
        "includeDocuments",
        "includeEnvelopeVoidReason",
        "includeHMAC",
        "includeOAuth",
        "includeSenderAccountasCustomField",
        "includeTimeZoneInformation",
        "integratorManaged",
        "pausePublish",
        "requireMutualTls",
        "requiresAcknowledgement",
        "salesforceDocumentsAsContentFiles",
        "senderOverride",
        "signMessageWithX509Certificate",
        "useSoapInterface",
    }
)
_TEXTS = frozenset(
    {
        "configurationType",
        "deliveryMode",
        "externalFolderId",
        "externalFolderLabel",
        "name",
        "salesforceApiVersion",
        "salesforceAuthcode",
        "salesforceCallBackUrl",
        "soapNamespace",
        "urlToPublishTo",
        "userName",
    }
)
_LISTS = frozenset(
    {"envelopeEvents", "events", "groupIds", "recipientEvents", "senderSelectableItems", "userIds"}
)
# Set by DocuSign, never taken from a request; and what is taken but never echoed or used.
_READ_ONLY = frozenset({"connectId", "disabledBy"})
_NOT_KEPT = frozenset({"password", "sfObjects", "oAuthConfiguration"})


def _invalid(message: str) -> SimError:
    return SimError(
        400, "INVALID_REQUEST_PARAMETER", f"The request contained at least one invalid parameter. {message}"
    )


def not_found(connect_id: str) -> SimError:
    # DocuSign documents only "400 Error encountered" here; the code and 404 are the simulator's.
    return SimError(
        404,
        "CONNECT_CONFIGURATION_NOT_FOUND",
        f"The Connect configuration specified does not exist: connectId {connect_id}.",
    )


def _flag(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise _invalid(f'\'{name}\' must be "true" or "false", not {value!r}.')
    return text


def _strings(name: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(f"'{name}' must be a list of strings.")
    return list(value)


def _event_data(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid("'eventData' must be an object: {version, format, includeData}.")
    version = value.get("version")
    if version != EVENT_DATA_VERSION:
        raise _invalid(f"eventData.version must be '{EVENT_DATA_VERSION}', not {version!r}.")
    event_format = str(value.get("format") or "json").lower()
    if event_format not in FORMATS:
        raise _invalid(f"eventData.format must be one of {', '.join(FORMATS)}, not {value.get('format')!r}.")
    data: dict[str, Any] = {"version": EVENT_DATA_VERSION, "format": event_format}
    if "includeData" in value:
        included = _strings("eventData.includeData", value["includeData"])
        unknown = [item for item in included if item not in INCLUDE_DATA]
        if unknown:
            raise _invalid(f"eventData.includeData has an unknown value '{unknown[0]}'.")
        data["includeData"] = included
    return data


def _fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's fields as they are stored: typed as DocuSign types them, unknown keys dropped
    (DocuSign's deserializer ignores what its model lacks)."""
    found: dict[str, Any] = {}
    for name, value in body.items():
        if value is None or name in _READ_ONLY or name in _NOT_KEPT:
            continue
        if name in _FLAGS:
            found[name] = _flag(name, value)
        elif name in _TEXTS:
            found[name] = str(value).strip()
        elif name in _LISTS:
            found[name] = _strings(name, value)
        elif name == "eventData":
            found[name] = _event_data(value)
    return found


def _check(configuration: Mapping[str, Any]) -> None:
    """What a whole configuration must satisfy, on creation and after an update."""
    url = str(configuration.get("urlToPublishTo") or "")
    if not url:
        raise _invalid("A value was not found for parameter 'urlToPublishTo'.")
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
    if not secure or not parts.hostname:
        raise _invalid(
            f"'urlToPublishTo' must be an absolute https URL (http only to loopback), not {url!r}."
        )
    if configuration.get("configurationType") != "custom":
        raise _invalid("configurationType must be 'custom': Salesforce and eOriginal are not set up here.")
    if configuration.get("deliveryMode") not in DELIVERY_MODES:
        raise _invalid(f"deliveryMode must be one of {', '.join(DELIVERY_MODES)}.")
    unknown = [event for event in configuration.get("events", []) if event not in KNOWN_EVENTS]
    if unknown:
        raise _invalid(f"'{unknown[0]}' is not a valid Connect event.")
    if configuration.get("allUsers") != "true" and not configuration.get("userIds"):
        raise _invalid("allUsers is not 'true': userIds must name at least one user.")


@dataclass(frozen=True, slots=True)
class Configuration:
    """One stored configuration, and what it means for delivery."""

    fields: dict[str, Any]

    @property
    def connect_id(self) -> str:
        return str(self.fields["connectId"])

    def publishes_for(self, user_id: str) -> bool:
        """Enabled (allowEnvelopePublish, not disabled, not paused) and tracking ``user_id``."""
        fields = self.fields
        enabled = (
            fields.get("allowEnvelopePublish") == "true"
            and not fields.get("disabledBy")
            and fields.get("pausePublish") != "true"
        )
        return enabled and (fields.get("allUsers") == "true" or user_id in fields.get("userIds", []))

    def subscribes(self, event: str) -> bool:
        return event in self.fields.get("events", [])

    def settings(self, hmac_keys: tuple[str, ...], xml_offset_hours: int) -> ConnectSettings:
        """How a message to this configuration is built and signed."""
        event_data = self.fields.get("eventData")
        included = frozenset(event_data.get("includeData", [])) if event_data else frozenset()
        return ConnectSettings(
            url=str(self.fields["urlToPublishTo"]),
            connect_id=self.connect_id,
            hmac_keys=hmac_keys if self.fields.get("includeHMAC") == "true" else (),
            # No eventData: DocuSign's legacy XML, as a configuration made before JSON SIM sends.
            connect_format=str(event_data["format"]) if event_data else "xml",
            envelope_data=included & _SUMMARY_DATA,
            include_documents=self.fields.get("includeDocuments") == "true" or "documents" in included,
            xml_offset_hours=xml_offset_hours,
            xml_time_zone="UTC" if xml_offset_hours == 0 else f"UTC{xml_offset_hours:+d}",
        )


def startup_configuration(
    *,
    connect_id: int,
    url: str,
    connect_format: str,
    include_envelope_data: bool,
    include_documents: bool,
    events: Iterable[str],
) -> Configuration:
    """The configuration the command line's and ``/_sim/config``'s Connect settings describe."""
    return Configuration(
        {
            "connectId": str(connect_id),
            "configurationType": "custom",
            "name": STARTUP_NAME,
            "urlToPublishTo": url,
            "allowEnvelopePublish": "true",
            "enableLog": "true",
            "includeHMAC": "true",
            "includeDocuments": "true" if include_documents else "false",
            "requiresAcknowledgement": "true",
            "allUsers": "true",
            "deliveryMode": "SIM",
            "events": sorted(events),
            "eventData": {
                "version": EVENT_DATA_VERSION,
                "format": connect_format,
                "includeData": ["custom_fields", "recipients"] if include_envelope_data else [],
            },
        }
    )


class ConnectConfigurations:
    """The account's configurations in creation order; connectIds are numeric strings, as DocuSign's."""

    def __init__(self, first_id: int = 10482914) -> None:
        self._configurations: dict[str, Configuration] = {}
        self._ids = itertools.count(first_id)
        self._startup_id: str | None = None

    def _new_id(self) -> str:
        while (candidate := str(next(self._ids))) in self._configurations:
            pass
        return candidate

    def get(self, connect_id: str) -> Configuration:
        found = self._configurations.get(connect_id)
        if found is None:
            raise not_found(connect_id)
        return found

    def create(self, body: object) -> Configuration:
        """``POST connect``: the stored configuration, with its new connectId."""
        if not isinstance(body, dict):
            raise SimError(
                400, "INVALID_REQUEST_BODY", "The request body is missing or improperly formatted."
            )
        fields = {
            "connectId": self._new_id(),
            "configurationType": "custom",
            "deliveryMode": "SIM",
            # DocuSign documents no default; off, so a configuration publishes only when told to.
            "allowEnvelopePublish": "false",
        } | _fields(body)
        _check(fields)
        configuration = Configuration(fields)
        self._configurations[configuration.connect_id] = configuration
        return configuration

    def update(self, body: object) -> Configuration:
        """``PUT connect``: the fields given replace the stored ones of the configuration named."""
        if not isinstance(body, dict) or not body.get("connectId"):
            raise _invalid("A value was not found for parameter 'connectId'.")
        current = self.get(str(body["connectId"]))
        changes = _fields(body)
        fields = current.fields | changes
        if changes.get("allowEnvelopePublish") == "true":
            fields.pop("disabledBy", None)  # enabling it again is how a disabled one comes back
        _check(fields)
        configuration = Configuration(fields)
        self._configurations[configuration.connect_id] = configuration
        return configuration

    def delete(self, connect_id: str) -> None:
        self.get(connect_id)
        del self._configurations[connect_id]
        if connect_id == self._startup_id:
            self._startup_id = None

    def disable(self, connect_id: str) -> Configuration:
        """As DocuSign does to a configuration whose listener keeps failing."""
        current = self.get(connect_id)
        configuration = Configuration(
            current.fields | {"allowEnvelopePublish": "false", "disabledBy": DISABLED_BY}
        )
        self._configurations[connect_id] = configuration
        return configuration

    def set_startup(self, configuration: Configuration | None) -> None:
        """Replace (or, with ``None``, remove) the configuration of the start-up settings; it comes first.
        A connectId another configuration has is refused before anything changes."""
        new_id = None if configuration is None else configuration.connect_id
        if new_id is not None and new_id != self._startup_id and new_id in self._configurations:
            raise ValueError(f"configurationId {new_id} is another configuration's")
        if self._startup_id is not None:
            self._configurations.pop(self._startup_id, None)
            self._startup_id = None
        if configuration is None:
            return
        self._configurations = {configuration.connect_id: configuration} | self._configurations
        self._startup_id = configuration.connect_id

    def all(self) -> list[Configuration]:
        return list(self._configurations.values())

    def results(self, configurations: Iterable[Configuration] | None = None) -> dict[str, Any]:
        """connectConfigResults: ``GET connect`` and, with one configuration, ``GET connect/{id}``."""
        chosen = [dict(c.fields) for c in (self.all() if configurations is None else configurations)]
        return {"configurations": chosen, "totalRecords": str(len(chosen))}
