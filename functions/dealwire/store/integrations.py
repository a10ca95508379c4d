"""A tenant's DocuSign connection in the table: its state, consents in progress, a lease, callbacks seen.

Keys are ``store.table``'s ``INTEGRATION`` (one item per tenant) and ``CONSENT_STATE``
(one per consent started, expired by the table's TTL). The tenant's secret holds what the
functions need to act (account, user, keys); this item holds what the settings page and a
key rotation need to know: who connected it and when, the last callback, the rotation.

The webhook reports callbacks through ``CallbackHeartbeat``: at most one write per tenant
per container every few minutes, and one as soon as a rotation's new key verifies one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from dealwire.store import table
from dealwire.store.table import TableStore, error_code, serialize

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

CONSENT_SECONDS: Final = 15 * 60
HEARTBEAT_SECONDS: Final = 300


class IntegrationStore(TableStore):
    # -- the connection -------------------------------------------------------------------

    def integration(self, tenant_id: str) -> dict[str, Any] | None:
        return self._get(table.integration_key(tenant_id), consistent=True)

    def _update(
        self,
        tenant_id: str,
        assignments: Mapping[str, Any],
        *,
        remove: tuple[str, ...] = (),
        condition: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        names: dict[str, str] = {}

        def path(attribute: str) -> str:
            """``a.b`` is the field ``b`` of the map ``a``; each part gets a placeholder."""
            placeholders = []
            for part in attribute.split("."):
                placeholder = f"#n{len(names)}"
                names[placeholder] = part
                placeholders.append(placeholder)
            return ".".join(placeholders)

        attribute_values = {f":a{i}": value for i, value in enumerate(assignments.values())}
        expression = "SET " + ", ".join(f"{path(name)} = :a{i}" for i, name in enumerate(assignments))
        if remove:
            expression += " REMOVE " + ", ".join(path(name) for name in remove)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": table.integration_key(tenant_id).item(),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize({**attribute_values, **(values or {})}),
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        self.client.update_item(**kwargs)

    def record_connected(
        self, tenant_id: str, *, account_id: str, user_id: str, connect_id: str, by: str, at: str
    ) -> None:
        self._update(
            tenant_id,
            {
                "tenant_id": tenant_id,
                "status": "connected",
                "account_id": account_id,
                "docusign_user_id": user_id,
                "connect_id": connect_id,
                "connected_by": by,
                "connected_at": at,
            },
            remove=("disconnected_at", "disconnected_by"),
        )

    def record_disconnected(self, tenant_id: str, *, by: str, at: str) -> None:
        self._update(
            tenant_id,
            {"tenant_id": tenant_id, "status": "disconnected", "disconnected_by": by, "disconnected_at": at},
            remove=("rotation", "connect_id"),
        )

    def record_rotation_started(self, tenant_id: str, *, key_id: str, by: str, at: str) -> None:
        self._update(
            tenant_id,
            {"tenant_id": tenant_id, "rotation": {"new_key_id": key_id, "started_by": by, "started_at": at}},
        )

    def record_rotation_finished(self, tenant_id: str, *, key_id: str, at: str) -> None:
        """The rotation of ``key_id`` is over (a rotation started since is left alone)."""
        try:
            self._update(
                tenant_id,
                {"last_rotation_at": at},
                remove=("rotation",),
                condition="rotation.new_key_id = :key",
                values={":key": key_id},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    # -- the lease: one change of the tenant's DocuSign set-up at a time ------------------

    def acquire(self, tenant_id: str, owner: str, *, seconds: int, now: float | None = None) -> bool:
        """Hold the tenant's set-up for ``seconds`` (the secret is read, changed and written
        under it); False while someone else holds it."""
        moment = int(now if now is not None else time.time())
        try:
            self._update(
                tenant_id,
                {"tenant_id": tenant_id, "lease_owner": owner, "lease_until": moment + seconds},
                condition="attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner",
                values={":now": moment, ":owner": owner},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, tenant_id: str, owner: str) -> None:
        self._release_lease(table.integration_key(tenant_id), owner)

    # -- consents in progress ----------------------------------------------------------------

    def put_consent_state(self, tenant_id: str, state: str, *, user_id: str, now: float | None = None) -> int:
        """Remember a consent ``user_id`` started; gone after ``CONSENT_SECONDS``. Gives its expiry."""
        moment = int(now if now is not None else time.time())
        expires = moment + CONSENT_SECONDS
        self.client.put_item(
            TableName=self.table_name,
            Item={
                **table.consent_state_key(tenant_id, state).item(),
                **serialize(
                    {
                        "tenant_id": tenant_id,
                        "started_by": user_id,
                        "started_at": moment,
                        table.TTL_ATTRIBUTE: expires,
                    }
                ),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return expires

    def consent_state(self, tenant_id: str, state: str, *, now: float | None = None) -> dict[str, Any] | None:
        """The consent ``state`` names, if it exists and has not expired (TTL deletes lazily)."""
        item = self._get(table.consent_state_key(tenant_id, state), consistent=True)
        moment = now if now is not None else time.time()
        if item is None or int(item.get(table.TTL_ATTRIBUTE, 0)) <= moment:
            return None
        return item

    def drop_consent_state(self, tenant_id: str, state: str) -> None:
        key = table.consent_state_key(tenant_id, state)
        self.client.delete_item(TableName=self.table_name, Key=key.item())

    # -- callbacks, as the webhook sees them ---------------------------------------------------

    def callback_seen(self, tenant_id: str, *, at: str, new_key_id: str | None) -> None:
        """The last callback's time; with ``new_key_id``, that the rotation's new key verified it
        (recorded once: the first time is when the rotation may end)."""
        if new_key_id is None:
            self._update(tenant_id, {"tenant_id": tenant_id, "last_callback_at": at})
            return
        try:
            self._update(
                tenant_id,
                {"tenant_id": tenant_id, "last_callback_at": at, "rotation.verified_at": at},
                condition="rotation.new_key_id = :key AND attribute_not_exists(rotation.verified_at)",
                values={":key": new_key_id},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            self._update(tenant_id, {"tenant_id": tenant_id, "last_callback_at": at})


class CallbackHeartbeat:
    """What the webhook tells the integration item, at a cost of next to nothing per callback."""

    def __init__(
        self,
        store: IntegrationStore,
        interval: int = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._interval = interval
        self._clock = clock
        self._written: dict[str, float] = {}
        self._proven: set[tuple[str, str]] = set()

    def seen(self, tenant_id: str, at: str, new_key_id: str | None = None) -> bool:
        """Record a verified callback if due; gives whether a write was made."""
        now = self._clock()
        proving = new_key_id is not None and (tenant_id, new_key_id) not in self._proven
        if not proving and now - self._written.get(tenant_id, float("-inf")) < self._interval:
            return False
        self._store.callback_seen(tenant_id, at=at, new_key_id=new_key_id if proving else None)
        self._written[tenant_id] = now
        if proving and new_key_id is not None:
            self._proven.add((tenant_id, new_key_id))
        return True
