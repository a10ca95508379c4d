"""An envelope as DocuSign's REST API returned it, recorded exactly as a Connect message would be.

The refresh after a minimal callback and the status poller both read envelopes from the
API; each read is archived beside the Connect messages (``connect/...``, event
``api-refresh`` or ``api-poll``, replayable like them) and applied with the same
ordering rule and writes, so the stream derives the same events and the same document
job whichever path brought the change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dealwire.contracts.connect_json import parse_envelope_document
from dealwire.contracts.errors import ConnectRefusal, TooLargeToRecord
from dealwire.domain.changes import plan_writes
from dealwire.store.archive import body_digest, connect_key
from dealwire.store.envelopes import check_fits
from dealwire.store.table import ItemTooLarge

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dealwire.domain.envelope_event import ChangeSource
    from dealwire.store.archive import Archive
    from dealwire.store.envelopes import ApplyResult, EnvelopeStore


@dataclass(frozen=True, slots=True)
class ReadRecorded:
    envelope_id: str
    status: str | None
    result: ApplyResult | None
    # Why the read could not be recorded (it is archived all the same); None when it was.
    refused: str | None = None

    @property
    def changed(self) -> bool:
        """The read moved the envelope forward: dealwire had not heard of this change."""
        return self.result is not None and self.result.fresh > 0


class EnvelopeReads:
    def __init__(self, archive: Archive, envelopes: EnvelopeStore) -> None:
        self._archive = archive
        self._envelopes = envelopes

    def record(
        self,
        tenant_id: str,
        account_id: str,
        document: Mapping[str, Any],
        *,
        source: ChangeSource,
        metadata: Mapping[str, str] | None = None,
        archive: bool = True,
        known_change: str | None = None,
    ) -> ReadRecorded:
        """Archive the read, then apply it. A read that cannot be parsed (DocuSign answered
        something dealwire cannot read) is archived and reported, not raised: one bad
        envelope must not stop a poll of the others. ``archive=False``: it is in the archive
        already (a replay). ``known_change``: the latest change dealwire has recorded for the
        envelope (the sweep reads it off the in-flight index); a read that reports nothing
        later is neither archived nor written, since its write could only be stale."""
        body = json.dumps(document, sort_keys=True).encode()
        envelope_id = str(document.get("envelopeId", ""))
        try:
            event = parse_envelope_document(dict(document), account_id)
        except ConnectRefusal as refused:
            return self._unreadable(tenant_id, envelope_id, body, source, refused, archive=archive)
        if known_change is not None and event.changed <= known_change:
            return ReadRecorded(event.envelope_id, event.envelope.status, None)
        archive_key = connect_key(
            tenant_id,
            event.envelope_id,
            generated=event.generated,
            event=f"api-{source}",
            digest=body_digest(body),
            ext="json",
        )
        # A whole read of the envelope answers a pending refresh too, whoever made it.
        writes = plan_writes(
            event, tenant_id=tenant_id, archive_key=archive_key, refreshed=True, source=source
        )
        try:
            check_fits(tenant_id, event.envelope_id, writes)
        except ItemTooLarge as exc:
            too_large = TooLargeToRecord(f"the read cannot be recorded: {exc}")
            return self._unreadable(tenant_id, envelope_id, body, source, too_large, archive=archive)
        if archive:
            self._archive.put(archive_key, body, "application/json", {"source": "api", **(metadata or {})})
        result = self._envelopes.apply(tenant_id, event.envelope_id, writes, fits_checked=True)
        return ReadRecorded(event.envelope_id, event.envelope.status, result)

    def _unreadable(
        self,
        tenant_id: str,
        envelope_id: str,
        body: bytes,
        source: ChangeSource,
        refused: ConnectRefusal,
        *,
        archive: bool,
    ) -> ReadRecorded:
        """Kept for a replay once whatever refused it is fixed; reported, not raised."""
        if archive:
            key = connect_key(
                tenant_id,
                envelope_id or "unknown",
                generated="",
                event=f"api-{source}-unreadable",
                digest=body_digest(body),
                ext="json",
            )
            self._archive.put(key, body, "application/json", {"source": "api", "reason": refused.reason})
        return ReadRecorded(envelope_id, None, None, refused=f"{refused.reason}: {refused}")
