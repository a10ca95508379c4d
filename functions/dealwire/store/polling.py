"""The status poller's item per tenant: its lease, watermark, unfinished listing, sweep and last cycle.

One item (``table.POLL_STATE``), so taking the lease also reads where the last cycle
stopped (one request), and finishing writes the new place and lets go (one request,
conditional on still holding the lease: a cycle that lost it writes nothing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dealwire.domain.polling import Listing, Sweep
from dealwire.store import table
from dealwire.store.table import TableStore, deserialize, error_code, serialize

if TYPE_CHECKING:
    from collections.abc import Mapping


class LeaseLost(RuntimeError):
    """Another cycle took the lease (this one ran past it): its work stands; this one's place is not kept."""


@dataclass(frozen=True, slots=True)
class PollState:
    watermark: str | None = None
    listing: Listing | None = None
    sweep: Sweep | None = None
    failures_checked_at: str | None = None
    last_cycle: dict[str, Any] | None = None


def _state(item: Mapping[str, Any]) -> PollState:
    last = item.get("last_cycle")
    return PollState(
        watermark=str(item["watermark"]) if item.get("watermark") else None,
        listing=Listing.from_item(item.get("listing")),
        sweep=Sweep.from_item(item.get("sweep")),
        failures_checked_at=str(item["failures_checked_at"]) if item.get("failures_checked_at") else None,
        last_cycle=dict(last) if isinstance(last, dict) else None,
    )


class PollStateStore(TableStore):
    def acquire(
        self, tenant_id: str, owner: str, *, seconds: int, now: float | None = None
    ) -> PollState | None:
        """Hold the tenant's poll for ``seconds`` and read where the last cycle stopped; None while
        another cycle holds it."""
        moment = int(now if now is not None else time.time())
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key=table.poll_state_key(tenant_id).item(),
                UpdateExpression="SET tenant_id = :tenant, lease_owner = :owner, lease_until = :until",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
                ExpressionAttributeValues=serialize(
                    {":tenant": tenant_id, ":owner": owner, ":until": moment + seconds, ":now": moment}
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return _state(deserialize(answer.get("Attributes", {})))

    def finish(self, tenant_id: str, owner: str, state: PollState) -> None:
        """Write the cycle's place and let the lease go; ``LeaseLost`` if it is no longer ours."""
        values: dict[str, Any] = {":owner": owner}
        sets, removes = [], ["lease_owner", "lease_until"]
        for name, value in (
            ("watermark", state.watermark),
            ("listing", state.listing.as_item() if state.listing else None),
            ("sweep", state.sweep.as_item() if state.sweep else None),
            ("failures_checked_at", state.failures_checked_at),
            ("last_cycle", state.last_cycle),
        ):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = value
        expression = ("SET " + ", ".join(sets) + " " if sets else "") + "REMOVE " + ", ".join(removes)
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=table.poll_state_key(tenant_id).item(),
                UpdateExpression=expression,
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues=serialize(values),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise LeaseLost(f"tenant {tenant_id}: another cycle holds the poll now") from exc
            raise

    def release(self, tenant_id: str, owner: str) -> None:
        """Let the lease go without moving anything (a cycle that failed)."""
        self._release_lease(table.poll_state_key(tenant_id), owner)

    def state(self, tenant_id: str) -> PollState | None:
        """Where the last cycle stopped (for the operator and the health check): one GetItem."""
        item = self._get(table.poll_state_key(tenant_id))
        return _state(item) if item else None
