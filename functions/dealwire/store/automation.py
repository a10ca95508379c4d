"""Automation rules, each deal's last stage change, and each (deal, rule)'s signing process.

Keys are ``store.table``'s ``RULE`` (all of a tenant's rules in one partition: one Query
finds those of a stage), ``DEAL_STAGE`` and ``AUTOMATION``.

A rule carries a version: an update or delete names the version it read and is refused
(``VersionConflict``) when someone changed the rule since. A deal's stage item keeps the
newest stage change applied, so an older or repeated one is told apart in the same
conditional write that records a newer one. The automation item is the one active
signing process of a rule for a deal: claiming it is one conditional write (free, or
already ours by send id), and every outcome (sent, failed, skipped) is recorded on it,
so the stream publishes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from botocore.exceptions import ClientError

from dealwire.store import table
from dealwire.store.table import (
    TableStore,
    cancellation_codes,
    cancelled_items,
    deserialize,
    error_code,
    serialize,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dealwire.automation.rules import RuleDefinition

MAX_RULES: Final = 500


class VersionConflict(Exception):
    """The rule changed since the caller read it (or does not exist)."""

    def __init__(self, current: int | None) -> None:
        super().__init__(f"the rule is at version {current}" if current is not None else "no such rule")
        self.current = current


class TooManyRules(Exception):
    """A tenant may have at most ``MAX_RULES`` rules."""


@dataclass(frozen=True, slots=True)
class StoredRule:
    rule_id: str
    version: int
    definition: dict[str, Any]
    updated_at: str
    updated_by: str


def _rule(item: Mapping[str, Any]) -> StoredRule:
    return StoredRule(
        rule_id=str(item["rule_id"]),
        version=int(item["version"]),
        definition=dict(item["definition"]),
        updated_at=str(item.get("updated_at", "")),
        updated_by=str(item.get("updated_by", "")),
    )


def _dump(definition: RuleDefinition) -> dict[str, Any]:
    dumped: dict[str, Any] = definition.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


class RuleStore(TableStore):
    def rules(self, tenant_id: str) -> list[StoredRule]:
        """Every rule of the tenant: one Query (a page per MB)."""
        items = self._query_all(table.rules_partition(tenant_id))
        return sorted((_rule(item) for item in items), key=lambda rule: rule.rule_id)

    def rules_page(
        self, tenant_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[StoredRule], str | None]:
        """A page of the tenant's rules by rule id, and the next page's cursor: one Query."""
        page = self._query_page(table.rules_partition(tenant_id), limit=limit, cursor=cursor, newest=False)
        return [_rule(item) for item in page.items], page.cursor

    def rule(self, tenant_id: str, rule_id: str) -> StoredRule | None:
        item = self._get(table.rule_key(tenant_id, rule_id), consistent=True)
        return _rule(item) if item else None

    def create(
        self, tenant_id: str, rule_id: str, definition: RuleDefinition, *, by: str, at: str
    ) -> StoredRule:
        if len(self._query_all(table.rules_partition(tenant_id))) >= MAX_RULES:
            raise TooManyRules(f"a tenant has at most {MAX_RULES} automation rules")
        stored = self._item(tenant_id, rule_id, 1, definition, by=by, at=at)
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=stored,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            raise self._conflict(exc) from exc
        return StoredRule(rule_id, 1, _dump(definition), at, by)

    def update(
        self, tenant_id: str, rule_id: str, definition: RuleDefinition, *, version: int, by: str, at: str
    ) -> StoredRule:
        item = self._item(tenant_id, rule_id, version + 1, definition, by=by, at=at)
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": {"N": str(version)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            raise self._conflict(exc) from exc
        return StoredRule(rule_id, version + 1, _dump(definition), at, by)

    def delete(self, tenant_id: str, rule_id: str, *, version: int) -> None:
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=table.rule_key(tenant_id, rule_id).item(),
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": {"N": str(version)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            raise self._conflict(exc) from exc

    def _item(
        self, tenant_id: str, rule_id: str, version: int, definition: RuleDefinition, *, by: str, at: str
    ) -> dict[str, Any]:
        return {
            **table.rule_key(tenant_id, rule_id).item(),
            **serialize(
                {
                    "tenant_id": tenant_id,
                    "rule_id": rule_id,
                    "version": version,
                    "definition": _dump(definition),
                    "updated_at": at,
                    "updated_by": by,
                }
            ),
        }

    @staticmethod
    def _conflict(exc: ClientError) -> VersionConflict:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise exc
        stored: dict[str, Any] = dict(exc.response).get("Item", {})  # type: ignore[assignment]
        version = stored.get("version", {}).get("N")
        return VersionConflict(int(version) if version is not None else None)


# -- a deal's stage changes and its rules' signing processes ---------------------------------------

Claim = Literal["claimed", "ours", "held", "superseded"]
TERMINAL_STATES: Final = frozenset({"failed"})


@dataclass(frozen=True, slots=True)
class Claimed:
    """What claiming a (deal, rule) gave: ``claimed`` (new), ``ours`` (an earlier attempt of the
    same send: go on from ``state``), ``held`` (another send's: see ``holder``), or
    ``superseded`` (the deal has moved on since this stage change)."""

    outcome: Claim
    state: str | None = None
    envelope_id: str | None = None
    holder: dict[str, Any] | None = None
    claimed_at: str | None = None


class AutomationStore(TableStore):
    def apply_stage(
        self, tenant_id: str, deal_id: str, *, pipeline_id: str, stage_id: str, changed_at: str, event_id: str
    ) -> bool:
        """Record the stage change unless a newer one is recorded (the same one again is applied)."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=table.deal_stage_key(tenant_id, deal_id).item(),
                UpdateExpression="SET tenant_id = :tenant, deal_id = :deal, pipeline_id = :pipeline, "
                "stage_id = :stage, changed_at = :at, event_id = :event",
                ConditionExpression="attribute_not_exists(changed_at) OR changed_at < :at "
                "OR (changed_at = :at AND event_id = :event)",
                ExpressionAttributeValues=serialize(
                    {
                        ":tenant": tenant_id,
                        ":deal": deal_id,
                        ":pipeline": pipeline_id,
                        ":stage": stage_id,
                        ":at": changed_at,
                        ":event": event_id,
                    }
                ),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def automation(self, tenant_id: str, deal_id: str, rule_id: str) -> dict[str, Any] | None:
        return self._get(table.automation_key(tenant_id, deal_id, rule_id), consistent=True)

    def claim(
        self,
        tenant_id: str,
        deal_id: str,
        rule_id: str,
        *,
        send: str,
        stage_event: str | None,
        at: str,
        detail: Mapping[str, Any],
        take_from: str | None = None,
    ) -> Claimed:
        """The rule's one signing process for the deal, for ``send``, in one transaction that
        also checks the deal is still at this stage change. ``take_from``: the send id of a
        process that is over (its envelope terminal), taken over only if it still holds it."""
        key = table.automation_key(tenant_id, deal_id, rule_id)
        condition = "send_id = :old" if take_from else "attribute_not_exists(send_id) OR #state = :failed"
        values: dict[str, Any] = {
            ":send": send,
            ":claimed": "claimed",
            ":at": at,
            ":event": stage_event or "by-hand",
            ":tenant": tenant_id,
            ":deal": deal_id,
            ":rule": rule_id,
            ":detail": dict(detail),
        }
        values[":old" if take_from else ":failed"] = take_from or "failed"
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": key.item(),
            "UpdateExpression": "SET send_id = :send, #state = :claimed, claimed_at = :at, "
            "stage_event = :event, tenant_id = :tenant, deal_id = :deal, rule_id = :rule, #detail = :detail "
            "REMOVE envelope_id, reason, reason_detail, sent_at, failed_at, warnings",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#state": "state", "#detail": "detail"},
            "ExpressionAttributeValues": serialize(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if stage_event is None:
            # A send by hand: no stage change to still be at.
            try:
                self.client.update_item(**update)
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                return self._held(send, deserialize(dict(exc.response).get("Item", {})))  # type: ignore[arg-type]
            return Claimed("claimed", state="claimed")
        check: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": table.deal_stage_key(tenant_id, deal_id).item(),
            "ConditionExpression": "event_id = :event",
            "ExpressionAttributeValues": serialize({":event": stage_event}),
        }
        try:
            self._transact([{"Update": update}, {"ConditionCheck": check}])  # type: ignore[typeddict-item]
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            codes = cancellation_codes(exc)
            if set(codes) - {"None", "ConditionalCheckFailed"}:
                raise
            if codes[1:2] == ["ConditionalCheckFailed"]:
                return Claimed("superseded")
            return self._held(send, deserialize(cancelled_items(exc)[0]))
        return Claimed("claimed", state="claimed")

    @staticmethod
    def _held(send: str, held: dict[str, Any]) -> Claimed:
        if held.get("send_id") == send:
            return Claimed(
                "ours",
                state=held.get("state"),
                envelope_id=held.get("envelope_id"),
                claimed_at=held.get("claimed_at"),
            )
        return Claimed("held", holder=held)

    def record_sent(
        self,
        tenant_id: str,
        deal_id: str,
        rule_id: str,
        *,
        send: str,
        envelope_id: str,
        at: str,
        warnings: list[str],
    ) -> None:
        self._outcome(
            tenant_id,
            deal_id,
            rule_id,
            send,
            {"state": "sent", "envelope_id": envelope_id, "sent_at": at, "warnings": warnings or None},
        )

    def record_failed(
        self, tenant_id: str, deal_id: str, rule_id: str, *, send: str, reason: str, detail: str, at: str
    ) -> None:
        self._outcome(
            tenant_id,
            deal_id,
            rule_id,
            send,
            {"state": "failed", "reason": reason, "reason_detail": detail, "failed_at": at},
        )

    def record_skipped(
        self, tenant_id: str, deal_id: str, rule_id: str, *, held_by: str, send: str, at: str
    ) -> None:
        """That ``send`` found the rule's process still active (held by ``held_by``): kept for
        the deal's history and published; a race that changed the holder meanwhile drops it."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=table.automation_key(tenant_id, deal_id, rule_id).item(),
                UpdateExpression="SET skipped_send = :send, skipped_at = :at",
                ConditionExpression="send_id = :held "
                "AND (attribute_not_exists(skipped_send) OR skipped_send <> :send)",
                ExpressionAttributeValues=serialize({":send": send, ":at": at, ":held": held_by}),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def _outcome(
        self, tenant_id: str, deal_id: str, rule_id: str, send: str, values: Mapping[str, Any]
    ) -> None:
        present = {name: value for name, value in values.items() if value is not None}
        names = {f"#a{i}": name for i, name in enumerate(present)}
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=table.automation_key(tenant_id, deal_id, rule_id).item(),
                UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(present))),
                ConditionExpression="send_id = :send",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(
                    {":send": send, **{f":a{i}": value for i, value in enumerate(present.values())}}
                ),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            # Replaced meanwhile by a newer send: this outcome is no longer the deal's to record.
