"""The tracker view of one envelope: its recipients in routing order and "signed / total"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dealwire.domain.status import SIGNED_STATUSES, SIGNING_TYPES

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


@dataclass(frozen=True, slots=True)
class Tracker:
    envelope: Mapping[str, Any]
    recipients: tuple[Mapping[str, Any], ...]
    signed: int
    signers: int

    @property
    def progress(self) -> str:
        return f"{self.signed}/{self.signers} signed"


def _routing(recipient: Mapping[str, Any]) -> tuple[int, str]:
    order = recipient.get("routing_order")
    return (order if isinstance(order, int) else 1_000_000, str(recipient.get("recipient_id", "")))


def _one_per_person(recipients: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Merge items that are one recipient under two ids.

    JSON messages key recipients by ``recipientId`` ("1"), the legacy XML only knows
    ``recipientIdGuid``; an account that switches format mid-envelope has both. Both
    carry the GUID, so the newest item (highest order key) per GUID stands.
    """
    chosen: dict[str, Mapping[str, Any]] = {}
    for recipient in recipients:
        identity = str(recipient.get("recipient_id_guid") or f"id:{recipient.get('recipient_id')}")
        held = chosen.get(identity)
        if held is None or str(recipient.get("order", "")) > str(held.get("order", "")):
            chosen[identity] = recipient
    return list(chosen.values())


def build_tracker(envelope: Mapping[str, Any], recipients: Iterable[Mapping[str, Any]]) -> Tracker:
    ordered = tuple(sorted(_one_per_person(recipients), key=_routing))
    signing = [r for r in ordered if r.get("recipient_type", "signer") in SIGNING_TYPES]
    signed = sum(1 for r in signing if r.get("status") in SIGNED_STATUSES)
    return Tracker(envelope=envelope, recipients=ordered, signed=signed, signers=len(signing))
