"""The operator's replay of the archive: every authentic Connect body, applied again.

Each archived message (``connect/<tenant>/<envelope>/...``) goes through the receiver's
own parse, checks and writes (``ConnectReceiver.replay``); an envelope read from the
API (``..._api-poll_...``, ``..._api-refresh_...``) goes through ``EnvelopeReads``. The
ordering rule makes a replay harmless however often it runs: what is already recorded
is stale. With ``rejected``, the bodies the webhook refused (``connect-rejected/``) are
tried too, after a fix; one still refused is reported with its reason and left where it is.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from dealwire.contracts.errors import ConnectRefusal, UnreadablePayload
from dealwire.domain.ids import is_tenant_id
from dealwire.domain.timestamps import canonical_timestamp, compact
from dealwire.store.archive import connect_prefix, rejected_prefix

if TYPE_CHECKING:
    from collections.abc import Callable

    from dealwire.envelope_reads import EnvelopeReads
    from dealwire.settings import WebhookSettings
    from dealwire.store.archive import Archive, ArchivedObject
    from dealwire.store.tenants import TenantDirectory
    from dealwire.webhook.receiver import ConnectReceiver

# The webhook's own body limit: nothing larger was ever archived by it.
MAX_BODY_BYTES: Final = 6_000_000
# Refusals named in a report (the count is whole).
MAX_NAMED: Final = 50


class ReplayRefused(ValueError):
    """The replay cannot start (an unknown tenant, a malformed ``since``)."""


@dataclass(slots=True)
class ReplayReport:
    tenant_id: str
    scanned: int = 0
    replayed: int = 0
    changed: int = 0
    unchanged: int = 0
    refused: int = 0
    refusals: list[dict[str, str]] = field(default_factory=list)
    stopped_early: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "tenantId": self.tenant_id,
            "scanned": self.scanned,
            "replayed": self.replayed,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "refused": self.refused,
            "refusals": self.refusals,
            "stoppedEarly": self.stopped_early,
        }


class ArchiveReplay:
    def __init__(
        self,
        *,
        archive: Archive,
        receiver: ConnectReceiver,
        reads: EnvelopeReads,
        tenants: TenantDirectory,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._archive = archive
        self._receiver = receiver
        self._reads = reads
        self._tenants = tenants
        self._clock = clock

    def run(
        self,
        tenant_id: str,
        *,
        envelope_id: str | None = None,
        since: str | None = None,
        rejected: bool = False,
        remaining: Callable[[], float] | None = None,
    ) -> ReplayReport:
        """Replay the tenant's archive (one envelope's, from ``since`` on). ``remaining``: seconds
        left to the caller (a Lambda's); the replay stops cleanly with a few to spare."""
        tenant = self._tenants.get(tenant_id) if is_tenant_id(tenant_id) else None
        if tenant is None:
            raise ReplayRefused(f"no tenant {tenant_id[:64]!r}")
        try:
            floor = compact(canonical_timestamp(since)) if since else ""
        except ValueError as exc:
            raise ReplayRefused(f"--since {since!r} is not an ISO 8601 time: {exc}") from exc
        report = ReplayReport(tenant_id)
        prefixes = [connect_prefix(tenant_id, envelope_id)]
        if rejected:
            prefixes.append(rejected_prefix(tenant_id))
        for prefix in prefixes:
            for key in self._archive.keys(prefix):
                if remaining is not None and remaining() < 5:
                    report.stopped_early = True
                    return report
                name = key.rsplit("/", 1)[-1]
                if floor and name.split("_", 1)[0] < floor:
                    continue
                report.scanned += 1
                self._replay_one(tenant.tenant_id, tenant.docusign_account_id, key, envelope_id, report)
        return report

    def _replay_one(
        self, tenant_id: str, account_id: str, key: str, envelope_id: str | None, report: ReplayReport
    ) -> None:
        stored = self._archive.get(key, max_bytes=MAX_BODY_BYTES)
        try:
            fresh = self._apply(tenant_id, account_id, stored, envelope_id)
        except ConnectRefusal as refusal:
            report.refused += 1
            if len(report.refusals) < MAX_NAMED:
                report.refusals.append({"key": key, "reason": refusal.reason, "detail": str(refusal)[:300]})
            return
        if fresh is None:
            return  # another envelope's refused body, when one envelope is asked for
        report.replayed += 1
        if fresh:
            report.changed += 1
        else:
            report.unchanged += 1

    def _apply(
        self, tenant_id: str, account_id: str, stored: ArchivedObject, envelope_id: str | None
    ) -> bool | None:
        """Whether the body changed anything; None when it is not the envelope asked for (a refused
        body is filed by tenant and day only: one that does not name the envelope is left alone)."""
        if envelope_id and envelope_id.encode() not in stored.body:
            return None
        name = stored.key.rsplit("/", 1)[-1]
        if "_api-" in name:
            try:
                document = json.loads(stored.body)
            except ValueError as exc:
                raise UnreadablePayload(f"the archived read is not JSON: {exc}") from exc
            if not isinstance(document, dict):
                raise UnreadablePayload("the archived read is not a JSON object")
            recorded = self._reads.record(tenant_id, account_id, document, source="replay", archive=False)
            if recorded.refused:
                raise UnreadablePayload(recorded.refused)
            return recorded.changed
        content_type = stored.metadata.get("declared-content-type") or stored.content_type or None
        received = stored.metadata.get("received") or datetime.fromtimestamp(self._clock(), UTC).isoformat()
        result = self._receiver.replay(
            tenant_id, stored.body, content_type, received_at=received, archived_as=stored.key
        )
        return result.applied


def archive_replay(settings: WebhookSettings) -> ArchiveReplay:
    """The replay over the webhook's own stores, as the webhook's settings name them."""
    from dealwire.envelope_reads import EnvelopeReads  # noqa: PLC0415
    from dealwire.store.archive import Archive  # noqa: PLC0415
    from dealwire.store.envelopes import EnvelopeStore  # noqa: PLC0415
    from dealwire.store.tenants import TenantDirectory  # noqa: PLC0415
    from dealwire.webhook.receiver import ConnectReceiver  # noqa: PLC0415

    archive, envelopes = Archive(settings.documents_bucket), EnvelopeStore(settings.table_name)
    tenants = TenantDirectory(settings.tenant_secret_prefix, settings.tenant_cache_seconds)
    return ArchiveReplay(
        archive=archive,
        receiver=ConnectReceiver(tenants, archive, envelopes, max_body_bytes=settings.max_body_bytes),
        reads=EnvelopeReads(archive, envelopes),
        tenants=tenants,
    )
