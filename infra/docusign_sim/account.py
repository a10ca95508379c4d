"""The simulated DocuSign account: its configuration, templates and envelopes, behind one lock."""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from infra.docusign_sim import connect, retry_queue
from infra.docusign_sim.auth import CONSENTED_SCOPES
from infra.docusign_sim.callback_loss import CallbackDrops, ConnectSwitch
from infra.docusign_sim.connect import ALL_EVENTS, FORMATS
from infra.docusign_sim.connect_config import ConnectConfigurations, startup_configuration
from infra.docusign_sim.connect_failures import ConnectFailures
from infra.docusign_sim.dates import parse_time
from infra.docusign_sim.documents import envelope_pdf
from infra.docusign_sim.errors import SimError
from infra.docusign_sim.hmac_keys import MAX_KEYS, MAX_SIGNATURES, HmacKeys
from infra.docusign_sim.limits import LIMIT_STATUSES
from infra.docusign_sim.model import SIGNER, MonotonicClock, Sender, new_envelope
from infra.docusign_sim.outbox import Outbox
from infra.docusign_sim.templates import DEFAULT_TEMPLATE, parse_template

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from infra.docusign_sim.connect import Outbound
    from infra.docusign_sim.connect_config import Configuration
    from infra.docusign_sim.model import Envelope, Event
    from infra.docusign_sim.templates import Template

MAX_PAGE = 1000
MAX_BULK = 100_000  # envelopes one POST /_sim/envelopes/bulk makes
_INCLUDE_ALL = frozenset({"recipients", "tabs", "custom_fields", "documents", "notifications"})


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything the command line or ``Simulator(...)`` configures; some may change at run time."""

    account_id: str
    integration_key: str
    user_id: str
    public_key_pem: str
    port: int = 0
    webhook_url: str | None = None
    hmac_keys: tuple[str, ...] = ()
    max_hmac_keys: int = MAX_KEYS
    connect_format: str = "json"
    include_envelope_data: bool = True
    include_documents: bool = False
    events: frozenset[str] = ALL_EVENTS
    configuration_id: int = 10482913
    xml_offset_hours: int = 0
    consent: bool = True
    # What the user consented to; the consent page adds the scopes it asked for.
    consented_scopes: frozenset[str] = CONSENTED_SCOPES
    allow_combined_download: bool = True
    token_lifetime: int = 3600
    rate_limit: int = 3000
    burst_limit: int = 500
    # The status of the limits' refusals: 400 (DocuSign's long-standing answer) or 429 (its 2026 change).
    rate_limit_status: int = 429
    # Off by default: DocuSign does not publish the limits it enforces, and dealwire's document
    # job reads one envelope several times in a row (downloads, the documents list, a refresh).
    envelope_polling: bool = False
    envelope_polling_limit: int = 1
    envelope_polling_window: int = 900
    async_callbacks: bool = False
    callback_timeout: float = 10.0
    # The share of callbacks lost as if the listener were down past DocuSign's retries, and its seed.
    drop_callbacks: float = 0.0
    drop_seed: int = 0
    user_name: str = "Sim Sender"
    user_email: str = "sender@example.com"
    account_name: str = "dealwire DocuSign simulator"

    def startup_configuration(self) -> Configuration | None:
        """The Connect configuration the start-up settings describe: none without a webhook URL."""
        if not self.webhook_url:
            return None
        return startup_configuration(
            connect_id=self.configuration_id,
            url=self.webhook_url,
            connect_format=self.connect_format,
            include_envelope_data=self.include_envelope_data,
            include_documents=self.include_documents,
            events=self.events,
        )

    def public_view(self) -> dict[str, Any]:
        return {
            "accountId": self.account_id,
            "integrationKey": self.integration_key,
            "userId": self.user_id,
            "webhookUrl": self.webhook_url,
            "maxHmacKeys": self.max_hmac_keys,
            "connectFormat": self.connect_format,
            "includeEnvelopeData": self.include_envelope_data,
            "includeDocuments": self.include_documents,
            "events": sorted(self.events),
            "configurationId": self.configuration_id,
            "xmlTimeZoneOffset": self.xml_offset_hours,
            "consent": self.consent,
            "consentedScopes": sorted(self.consented_scopes),
            "allowCombinedDownload": self.allow_combined_download,
            "tokenLifetime": self.token_lifetime,
            "rateLimit": self.rate_limit,
            "burstLimit": self.burst_limit,
            "rateLimitStatus": self.rate_limit_status,
            "envelopePolling": self.envelope_polling,
            "envelopePollingLimit": self.envelope_polling_limit,
            "envelopePollingWindow": self.envelope_polling_window,
            "asyncCallbacks": self.async_callbacks,
            "dropCallbacks": self.drop_callbacks,
            "dropSeed": self.drop_seed,
        }


# The keys of POST /_sim/config that describe the start-up Connect configuration.
STARTUP_CONNECT_KEYS = frozenset(
    {"webhookUrl", "connectFormat", "includeEnvelopeData", "includeDocuments", "events", "configurationId"}
)

# camelCase key of POST /_sim/config → (SimConfig field, conversion)
_CONFIG_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "webhookUrl": ("webhook_url", lambda v: str(v) if v else None),
    "hmacKeys": ("hmac_keys", lambda v: tuple(str(k) for k in v)),
    "hmacKey": ("hmac_keys", lambda v: (str(v),) if v else ()),
    "maxHmacKeys": ("max_hmac_keys", int),
    "connectFormat": ("connect_format", str),
    "includeEnvelopeData": ("include_envelope_data", bool),
    "includeDocuments": ("include_documents", bool),
    "events": ("events", lambda v: frozenset(str(e) for e in v)),
    "configurationId": ("configuration_id", int),
    "xmlTimeZoneOffset": ("xml_offset_hours", int),
    "consent": ("consent", bool),
    "allowCombinedDownload": ("allow_combined_download", bool),
    "tokenLifetime": ("token_lifetime", int),
    "rateLimit": ("rate_limit", int),
    "burstLimit": ("burst_limit", int),
    "rateLimitStatus": ("rate_limit_status", int),
    "envelopePolling": ("envelope_polling", bool),
    "envelopePollingLimit": ("envelope_polling_limit", int),
    "envelopePollingWindow": ("envelope_polling_window", int),
    "asyncCallbacks": ("async_callbacks", bool),
    "dropCallbacks": ("drop_callbacks", float),
    "dropSeed": ("drop_seed", int),
}


def updated_config(config: SimConfig, changes: Mapping[str, Any]) -> SimConfig:
    unknown = sorted(set(changes) - set(_CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known: {sorted(_CONFIG_KEYS)}")
    values = {}
    for key, raw in changes.items():
        name, convert = _CONFIG_KEYS[key]
        try:
            values[name] = convert(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{key}: {exc}") from exc
    new = replace(config, **values)
    if new.consent and "consent" in changes:  # consent as a JWT integration asks for it
        new = replace(new, consented_scopes=new.consented_scopes | CONSENTED_SCOPES)
    if new.connect_format not in FORMATS:
        raise ValueError(f"connectFormat must be one of {FORMATS}")
    if not new.events <= ALL_EVENTS:
        raise ValueError(f"events must be among {sorted(ALL_EVENTS)}")
    check_limits(new)
    return new


def check_limits(config: SimConfig) -> None:
    if not 0 <= config.max_hmac_keys <= MAX_SIGNATURES:
        raise ValueError(f"maxHmacKeys is between 0 and {MAX_SIGNATURES}")
    if len(config.hmac_keys) > config.max_hmac_keys:
        raise ValueError(f"an account has at most {config.max_hmac_keys} HMAC keys (maxHmacKeys)")
    if config.rate_limit_status not in LIMIT_STATUSES:
        raise ValueError(f"rateLimitStatus must be one of {LIMIT_STATUSES}")
    if min(config.rate_limit, config.burst_limit, config.envelope_polling_limit) < 0:
        raise ValueError("limits are counts, 0 or more")
    if config.envelope_polling_window < 1:
        raise ValueError("envelopePollingWindow is at least 1 second")
    if not 0.0 <= config.drop_callbacks <= 1.0:
        raise ValueError("dropCallbacks is a share of the callbacks, 0.0 to 1.0")


@dataclass(slots=True)
class Account:
    config: SimConfig
    lock: threading.RLock = field(default_factory=threading.RLock)
    clock: MonotonicClock = field(default_factory=MonotonicClock)
    templates: dict[str, Template] = field(
        default_factory=lambda: {DEFAULT_TEMPLATE.template_id: DEFAULT_TEMPLATE}
    )
    envelopes: dict[str, Envelope] = field(default_factory=dict)
    downloads: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Sender views not yet opened: token → envelope id (DocuSign's view URLs are good for one use).
    sender_views: dict[str, str] = field(default_factory=dict)
    # Connect: where callbacks go (one path: this list, the start-up settings' one included),
    # the keys that sign them, and the deliveries that failed.
    configurations: ConnectConfigurations = field(default_factory=ConnectConfigurations)
    hmac_keys: HmacKeys = field(default_factory=HmacKeys)
    failures: ConnectFailures = field(default_factory=ConnectFailures)
    # Connect off for the account or some envelopes (control API): their callbacks are not sent.
    connect_switch: ConnectSwitch = field(default_factory=ConnectSwitch)
    drops: CallbackDrops = field(init=False)
    outbox: Outbox = field(init=False)
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _field_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(10923847561))
    # <n> of the bulk envelopes' signers (signer-<n>-<i>@example.test), across calls.
    _bulk_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.config.callback_timeout, on_delivered=self.failures.delivered)
        self.drops = CallbackDrops(self.config.drop_seed)
        self.hmac_keys.replace(self.config.hmac_keys, self.clock())
        self.configurations.set_startup(self.config.startup_configuration())

    def reconfigure(self, new: SimConfig, changed: Iterable[str]) -> None:
        """Take run-time settings: the start-up Connect settings rebuild the start-up configuration
        (a REST change to it is lost), and ``hmacKeys``/``hmacKey`` replace the account's keys."""
        keys = set(changed)
        with self.lock:
            if keys & STARTUP_CONNECT_KEYS:
                self.configurations.set_startup(new.startup_configuration())
            if keys & {"hmacKeys", "hmacKey"}:
                self.hmac_keys.replace(new.hmac_keys, self.clock())
            if keys & {"dropCallbacks", "dropSeed"}:  # a test that sets them starts the sequence again
                self.drops.reseed(new.drop_seed)
            self.config = new

    def public_config(self) -> dict[str, Any]:
        """``GET /_sim/config``: the settings, and how many keys the account has now (not the keys)."""
        with self.lock:
            return (
                self.config.public_view() | {"hmacKeyCount": len(self.hmac_keys)} | self.connect_switch.view()
            )

    def connect_off(self, envelope_ids: list[str] | None) -> dict[str, Any]:
        """Connect off for the account (``None``) or these envelopes; the switch as it is now."""
        with self.lock:
            for envelope_id in envelope_ids or []:
                self.envelope(envelope_id)
            self.connect_switch.off(envelope_ids)
            return self.connect_switch.view()

    def connect_on(self, envelope_ids: list[str] | None) -> dict[str, Any]:
        """Connect on for the account (``None``: every envelope too) or these envelopes."""
        with self.lock:
            for envelope_id in envelope_ids or []:
                self.envelope(envelope_id)
            self.connect_switch.on(envelope_ids)
            return self.connect_switch.view()

    def sender(self) -> Sender:
        return Sender(
            user_id=self.config.user_id,
            user_name=self.config.user_name,
            email=self.config.user_email,
            account_id=self.config.account_id,
        )

    # --- callbacks -----------------------------------------------------------------------

    def _queue(self, envelope: Envelope, events: list[Event]) -> None:
        """Announce a transition's events: their callbacks go out in order (under the lock)."""
        if events:
            envelope.last_event = events[-1]
        self.outbox.put(self._messages(envelope, events))

    def _messages(
        self, envelope: Envelope, events: list[Event], *, republish: bool = False
    ) -> list[Outbound]:
        """Build the callbacks now (the envelope as it is now), under the lock: one per enabled
        configuration that subscribes to the event, signed with the keys of now; or a record of
        the event not sent when nothing publishes (or Connect is off for the envelope)."""
        off = self.connect_switch.why_off(envelope.envelope_id)
        publishing = [
            c for c in self.configurations.all() if off is None and c.publishes_for(self.config.user_id)
        ]
        keys = self.hmac_keys.active()
        messages = []
        for event, recipient in events:
            moment, sequence = self.clock(), next(self._sequence)
            if not publishing:
                messages.append(
                    connect.unsent(
                        envelope,
                        event,
                        recipient_id=recipient,
                        moment=moment,
                        sequence=sequence,
                        reason=off or connect.NO_CONFIGURATION,
                    )
                )
                messages[-1].republish = republish
            for configuration in publishing:
                if configuration.subscribes(event):
                    message = connect.build(
                        configuration.settings(keys, self.config.xml_offset_hours),
                        envelope,
                        event,
                        recipient_id=recipient,
                        moment=moment,
                        sequence=sequence,
                    )
                    message.dropped = self.drops.draw(self.config.drop_callbacks)
                    message.republish = republish
                    messages.append(message)
        return messages

    def republish(self, envelope_ids: list[str], *, synchronous: bool = False) -> dict[str, Any]:
        """DocuSign's retry queue: each envelope's current state (its last event, built and signed now)
        to every configuration that publishes and subscribes to it; ConnectFailureResults. Every
        envelope must exist, or nothing is republished. Delivered before the answer unless
        ``asyncCallbacks`` (then ``synchronous`` asks for it)."""
        with self.lock:
            envelopes = [self.envelope(envelope_id) for envelope_id in envelope_ids]
            plans: list[tuple[str, list[Outbound], str | None]] = []
            for envelope in envelopes:
                if envelope.last_event is None:
                    plans.append((envelope.envelope_id, [], retry_queue.NO_EVENT))
                    continue
                messages = self._messages(envelope, [envelope.last_event], republish=True)
                reason = None if messages else retry_queue.not_subscribed(envelope.last_event[0])
                plans.append((envelope.envelope_id, messages, reason))
            self.outbox.put([message for _, messages, _ in plans for message in messages])
        if synchronous or not self.config.async_callbacks:
            self.outbox.drain()  # once it returns, every message put before was delivered (by whoever)
        return {
            "retryQueue": [
                result
                for envelope_id, messages, reason in plans
                for result in retry_queue.results(envelope_id, messages, reason)
            ]
        }

    def flush(self) -> list[dict[str, Any]]:
        """Deliver queued callbacks now, unless a worker thread does it."""
        return [] if self.config.async_callbacks else self.outbox.drain()

    # --- envelopes -----------------------------------------------------------------------

    def envelope(self, envelope_id: str) -> Envelope:
        found = self.envelopes.get(envelope_id)
        if found is None:
            raise SimError(
                404,
                "ENVELOPE_DOES_NOT_EXIST",
                "The envelope specified either does not exist or you have no rights to it.",
            )
        return found

    def create(self, request: object) -> dict[str, Any]:
        with self.lock:
            envelope = new_envelope(
                request, self.templates, self.sender(), self.clock(), lambda: str(next(self._field_ids))
            )
            status = request.get("status", "created") if isinstance(request, dict) else "created"
            if status not in ("created", "sent"):
                raise SimError(
                    400, "INVALID_REQUEST_PARAMETER", f"status must be 'sent' or 'created', not {status!r}"
                )
            events = envelope.send(self.clock) if status == "sent" else []
            self.envelopes[envelope.envelope_id] = envelope
            self._queue(envelope, events)
            answer = envelope.summary()
        self.flush()
        return answer

    def bulk_create(self, request: object) -> list[str]:
        """``POST /_sim/envelopes/bulk`` (benches): ``count`` envelopes from ``templateId``, its first
        ``signers`` signer roles filled with generated names and emails, ``sent`` (or ``created``),
        with no callback for their creation. All or none: the ids, in creation order."""
        count, template_id, signers, status = _bulk_request(request)
        with self.lock:
            template = self.templates.get(template_id)
            if template is None:
                raise SimError(400, "TEMPLATE_ID_INVALID", f"Invalid template ID. {template_id}")
            roles = [role.role_name for role in template.roles if role.recipient_type == SIGNER]
            if signers > len(roles):
                raise ValueError(f"template {template_id} has {len(roles)} signer roles, not {signers}")
            made = []
            for _ in range(count):
                number = next(self._bulk_numbers)
                given = [
                    {
                        "roleName": role,
                        "name": f"Signer {number}-{i}",
                        "email": f"signer-{number}-{i}@example.test",
                    }
                    for i, role in enumerate(roles[:signers], start=1)
                ]
                envelope = new_envelope(
                    {"templateId": template_id, "templateRoles": given},
                    self.templates,
                    self.sender(),
                    self.clock(),
                    lambda: str(next(self._field_ids)),
                )
                if status == "sent":
                    envelope.last_event = envelope.send(self.clock)[-1]  # announced to nobody
                made.append(envelope)
            self.envelopes |= {envelope.envelope_id: envelope for envelope in made}
        return [envelope.envelope_id for envelope in made]

    def update(self, envelope_id: str, request: object) -> dict[str, Any]:
        """``PUT envelopes/{id}``: void a sent envelope, or send a draft."""
        if not isinstance(request, dict):
            raise SimError(
                400, "INVALID_REQUEST_BODY", "The request body is missing or improperly formatted."
            )
        with self.lock:
            envelope = self.envelope(envelope_id)
            status = request.get("status")
            if status == "voided":
                events = envelope.void(str(request.get("voidedReason") or ""), self.clock)
            elif status == "sent":
                events = envelope.send(self.clock)
            else:
                raise SimError(
                    400,
                    "INVALID_REQUEST_PARAMETER",
                    "the simulator updates status to 'voided' or 'sent' only",
                )
            self._queue(envelope, events)
        self.flush()
        return {"envelopeId": envelope_id}

    def send_draft(self, envelope_id: str) -> list[dict[str, Any]]:
        """The sender sends a draft from the sender view (control API); the callbacks it caused."""
        with self.lock:
            envelope = self.envelope(envelope_id)
            self._queue(envelope, envelope.send(self.clock))
        return self.flush()

    def create_sender_view(self, envelope_id: str, request: object, base_url: str) -> dict[str, str]:
        """``POST envelopes/{id}/views/sender`` (EnvelopeViews: createSender): a one-use URL to
        the sending view of a draft."""
        return_url = request.get("returnUrl") if isinstance(request, dict) else None
        if not return_url:
            raise SimError(400, "INVALID_REQUEST_PARAMETER", "The returnUrl is required.")
        with self.lock:
            envelope = self.envelope(envelope_id)
            if envelope.status != "created":
                raise SimError(
                    400,
                    "ENVELOPE_INVALID_STATUS",
                    f"Invalid envelope status: {envelope.status}. Only a draft (created) has a sender view.",
                )
            token = secrets.token_urlsafe(24)
            self.sender_views[token] = envelope_id
        return {"url": f"{base_url}/sender/{token}?" + urlencode({"send": "1", "returnUrl": str(return_url)})}

    def open_sender_view(self, token: str) -> Envelope | None:
        """The envelope a sender view's URL opens, once; ``None`` for an unknown or used URL."""
        with self.lock:
            envelope_id = self.sender_views.pop(token, None)
            return self.envelopes.get(envelope_id) if envelope_id else None

    def notification_json(self, envelope_id: str) -> dict[str, Any]:
        with self.lock:
            return self.envelope(envelope_id).notification.as_json()

    def act(self, envelope_id: str, recipient_id: str, action: str, reason: str = "") -> list[dict[str, Any]]:
        """A recipient's step (control API); the callbacks it caused, once answered."""
        with self.lock:
            envelope = self.envelope(envelope_id)
            if action == "deliver":
                events = envelope.deliver(recipient_id, self.clock)
            elif action == "sign":
                events = envelope.sign(recipient_id, self.clock)
            elif action == "decline":
                events = envelope.decline(recipient_id, reason or "Declined (simulated)", self.clock)
            else:
                raise SimError(404, "UNKNOWN_ACTION", f"no recipient action {action!r}")
            self._queue(envelope, events)
        return self.flush()

    def void(self, envelope_id: str, reason: str) -> list[dict[str, Any]]:
        with self.lock:
            envelope = self.envelope(envelope_id)
            self._queue(envelope, envelope.void(reason, self.clock))
        return self.flush()

    def envelope_json(self, envelope_id: str, include: frozenset[str] = _INCLUDE_ALL) -> dict[str, Any]:
        with self.lock:
            return self.envelope(envelope_id).as_json(include)

    def recipients_json(self, envelope_id: str, *, include_tabs: bool = False) -> dict[str, Any]:
        with self.lock:
            return self.envelope(envelope_id).recipients_json(include_tabs=include_tabs)

    def all_envelopes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e.as_json(_INCLUDE_ALL) for e in self.envelopes.values()]

    def list_changes(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET envelopes`` (listStatusChanges): envelopes changed at or after ``from_date``,
        a recipient's progress included, oldest change first unless ``order=desc``.

        ``from_date`` is required unless ``envelope_ids`` or ``transaction_ids`` name the
        envelopes (DocuSign: "Unless you are requesting the status for specific envelopes (using
        the envelopeIds or transactionIds properties), you must set the from_date"). Every filter
        given applies: ``transaction_ids`` (comma-separated), ``custom_field=<name>=<value>``
        (a text custom field; ``%`` around the value matches part of it), the dates, ``status``."""
        ids = id_list(query, "envelope_ids")
        transactions = id_list(query, "transaction_ids")
        if "from_date" not in query and not ids and not transactions:
            raise SimError(
                400,
                "INVALID_REQUEST_PARAMETER",
                "The request contained at least one invalid parameter. "
                "A value was not found for parameter 'from_date'.",
            )
        since = parse_time(query["from_date"], "from_date") if "from_date" in query else None
        until = parse_time(query["to_date"], "to_date") if "to_date" in query else None
        statuses = {s.strip().lower() for s in query.get("status", "").split(",") if s.strip()} - {"any"}
        include = frozenset(i.strip() for i in query.get("include", "").split(",") if i.strip())
        custom = _custom_field_filter(query.get("custom_field"))
        start, count = _paging(query)
        with self.lock:
            found = [
                e
                for e in self.envelopes.values()
                if (not ids or e.envelope_id in ids)
                and (not transactions or e.transaction_id in transactions)
                and (since is None or (e.changed_at or e.created_at) >= since)
                and (until is None or (e.changed_at or e.created_at) <= until)
                and (not statuses or e.status in statuses)
                and (custom is None or any(custom(f) for f in e.text_custom_fields))
            ]
            found.sort(
                key=lambda e: (e.changed_at or e.created_at, e.envelope_id),
                reverse=query.get("order", "asc").lower() == "desc",
            )
            page = [e.as_json(include) for e in found[start : start + count]]
        answer = _page_answer(page, start, count, len(found), path="/envelopes", query=query)
        answer["envelopes"] = page
        return answer

    # --- documents -----------------------------------------------------------------------

    def document_list(self, envelope_id: str) -> dict[str, Any]:
        with self.lock:
            return {
                "envelopeId": envelope_id,
                "envelopeDocuments": self.envelope(envelope_id).document_list(),
            }

    def document(
        self, envelope_id: str, document_id: str, *, certificate: bool = True, count: bool = False
    ) -> bytes:
        with self.lock:
            envelope = self.envelope(envelope_id)
            if document_id == "combined" and count and not self.config.allow_combined_download:
                raise SimError(
                    400,
                    "COMBINED_PDF_DOWNLOAD_NOT_ALLOWED",
                    "Combined PDF download is not allowed for this account. Download documents one by one.",
                )
            pdf = envelope_pdf(envelope, document_id, certificate=certificate)
            if count:
                self.downloads[(envelope_id, document_id)] += 1
            return pdf

    def download_counts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"envelopeId": envelope_id, "documentId": document_id, "count": n}
                for (envelope_id, document_id), n in sorted(self.downloads.items())
            ]

    # --- control -------------------------------------------------------------------------

    def template_results(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET templates`` (Templates: list): EnvelopeTemplateResults, by name; ``search_text``
        matches within the name (without case), ``include`` may add recipients and documents."""
        start, count = _paging(query)
        needle = query.get("search_text", "").strip().lower()
        include = frozenset(i.strip() for i in query.get("include", "").split(",") if i.strip())
        with self.lock:
            found = sorted(
                (t for t in self.templates.values() if needle in t.name.lower()), key=lambda t: t.name.lower()
            )
            page = [t.as_json(self._owner(), include) for t in found[start : start + count]]
        answer = _page_answer(page, start, count, len(found), path="/templates", query=query)
        answer["envelopeTemplates"] = page
        return answer

    def template_json(self, template_id: str) -> dict[str, Any]:
        """``GET templates/{templateId}`` (Templates: get): the EnvelopeTemplate, recipients and documents."""
        with self.lock:
            template = self.templates.get(template_id)
            if template is None:
                raise SimError(400, "TEMPLATE_ID_INVALID", f"Invalid template ID. {template_id}")
            return template.as_json(self._owner(), frozenset({"recipients", "documents"}))

    def _owner(self) -> dict[str, str]:
        return {
            "userName": self.config.user_name,
            "userId": self.config.user_id,
            "email": self.config.user_email,
        }

    def add_template(self, body: object) -> dict[str, Any]:
        template = parse_template(body)
        with self.lock:
            self.templates[template.template_id] = template
        return template.summary()

    def template_list(self) -> list[dict[str, Any]]:
        with self.lock:
            return [t.summary() for t in self.templates.values()]

    def reset(self) -> None:
        with self.lock:
            self.envelopes.clear()
            self.downloads.clear()
            self.outbox.clear()
            self.failures.clear()
            self.sender_views.clear()
            self.connect_switch.on()
            self.drops.reseed(self.config.drop_seed)


def _bulk_request(request: object) -> tuple[int, str, int, str]:
    """``{"count", "templateId" ("tpl-nda"), "signers" (2), "status" ("sent")}``."""
    if not isinstance(request, dict):
        raise ValueError('the body is {"count", "templateId", "signers", "status"}')
    count, signers = request.get("count"), request.get("signers", 2)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_BULK:
        raise ValueError(f"count is a whole number of envelopes, 1 to {MAX_BULK}")
    if not isinstance(signers, int) or isinstance(signers, bool) or signers < 1:
        raise ValueError("signers is a whole number, at least 1")
    status = request.get("status", "sent")
    if status not in ("sent", "created"):
        raise ValueError(f"status is 'sent' or 'created', not {status!r}")
    return count, str(request.get("templateId") or DEFAULT_TEMPLATE.template_id), signers, status


def id_list(query: Mapping[str, str], name: str) -> set[str]:
    """A comma-separated list of ids; ``request_body`` (ids in a PUT's body) is not simulated."""
    return {i.strip() for i in query.get(name, "").split(",") if i.strip() and i.strip() != "request_body"}


def _custom_field_filter(raw: str | None) -> Callable[[Mapping[str, str]], bool] | None:
    """``custom_field=Region=West``: the text custom field named (without case) has that value;
    ``%West%``, ``West%``, ``%West`` match part of it, as DocuSign's reference shows."""
    if raw is None:
        return None
    name, equals, value = raw.partition("=")
    if not equals or not name.strip():
        raise SimError(
            400,
            "INVALID_REQUEST_PARAMETER",
            "The request contained at least one invalid parameter. custom_field is <name>=<value>.",
        )
    wanted = value.strip("%")

    def matches(text_field: Mapping[str, str]) -> bool:
        if text_field.get("name", "").lower() != name.strip().lower():
            return False
        found = text_field.get("value", "")
        if value.startswith("%") and value.endswith("%") and len(value) > 1:
            return wanted in found
        if value.startswith("%"):
            return found.endswith(wanted)
        if value.endswith("%"):
            return found.startswith(wanted)
        return found == value

    return matches


def _paging(query: Mapping[str, str]) -> tuple[int, int]:
    try:
        start = int(query.get("start_position", "0"))
        count = min(int(query.get("count", str(MAX_PAGE))), MAX_PAGE)
    except ValueError as exc:
        raise SimError(400, "INVALID_REQUEST_PARAMETER", "start_position and count are numbers") from exc
    if start < 0 or count < 1:
        raise SimError(400, "INVALID_REQUEST_PARAMETER", "start_position ≥ 0 and count ≥ 1")
    return start, count


def _page_answer(
    page: list[Any], start: int, count: int, total: int, *, path: str, query: Mapping[str, str]
) -> dict[str, Any]:
    """The paging keys DocuSign's lists share (strings), with next/previous URIs when there are more."""
    answer: dict[str, Any] = {
        "resultSetSize": str(len(page)),
        "startPosition": str(start),
        "endPosition": str(start + len(page) - 1),
        "totalSetSize": str(total),
    }
    if start + count < total:
        answer["nextUri"] = f"{path}?" + urlencode({**query, "start_position": str(start + count)})
    if start > 0:
        answer["previousUri"] = f"{path}?" + urlencode(
            {**query, "start_position": str(max(start - count, 0))}
        )
    return answer
