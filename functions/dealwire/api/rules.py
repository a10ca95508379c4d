"""Automation rules as a CRM's settings page edits them: listed, read, created, changed, deleted.

Any active user of the tenant may read the rules; only a tenant admin may change them (the
caller's checks are the API function's). A change names the version it read, so two admins
editing one rule cannot overwrite each other unseen: the second is told the current version.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dealwire.api.errors import Conflict, NotFound
from dealwire.automation.rules import RuleDefinition
from dealwire.contracts.automation import RuleDeleted, RulePage, RuleView
from dealwire.domain.ids import is_rule_id
from dealwire.store.automation import MAX_RULES, TooManyRules, VersionConflict

if TYPE_CHECKING:
    from collections.abc import Callable

    from dealwire.contracts.automation import RuleUpdate
    from dealwire.store.automation import RuleStore, StoredRule


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def view(stored: StoredRule) -> RuleView:
    return RuleView.model_validate(
        {
            **stored.definition,
            "ruleId": stored.rule_id,
            "version": stored.version,
            "updatedAt": stored.updated_at,
            "updatedBy": stored.updated_by,
        }
    )


class Rules:
    def __init__(
        self,
        store: RuleStore,
        *,
        new_id: Callable[[], str] = lambda: secrets.token_hex(16),
        clock: Callable[[], str] = _now,
    ) -> None:
        self._store = store
        self._new_id = new_id
        self._clock = clock

    def page(self, tenant_id: str, *, limit: int, cursor: str | None) -> RulePage:
        rules, next_cursor = self._store.rules_page(tenant_id, limit=limit, cursor=cursor)
        return RulePage(rules=[view(rule) for rule in rules], cursor=next_cursor)

    def read(self, tenant_id: str, rule_id: str) -> RuleView:
        stored = self._store.rule(tenant_id, rule_id) if is_rule_id(rule_id) else None
        if stored is None:
            raise NotFound("no such automation rule")
        return view(stored)

    def create(self, tenant_id: str, user_id: str, definition: RuleDefinition) -> RuleView:
        """A new rule at version 1: one Query (the tenant's count) and one conditional PutItem."""
        try:
            stored = self._store.create(tenant_id, self._new_id(), definition, by=user_id, at=self._clock())
        except TooManyRules:
            raise Conflict(
                f"the account has {MAX_RULES} automation rules, the most it may have: delete one first",
                code="too_many_rules",
            ) from None
        return view(stored)

    def update(self, tenant_id: str, user_id: str, rule_id: str, update: RuleUpdate) -> RuleView:
        """The rule's whole definition replaced, if it is still at ``update.version``: one PutItem."""
        definition = RuleDefinition.model_validate(update.model_dump(by_alias=True, exclude={"version"}))
        self._require_id(rule_id)
        try:
            stored = self._store.update(
                tenant_id, rule_id, definition, version=update.version, by=user_id, at=self._clock()
            )
        except VersionConflict as conflict:
            raise _refusal(conflict, update.version) from None
        return view(stored)

    def delete(self, tenant_id: str, rule_id: str, version: int) -> RuleDeleted:
        """The rule deleted, if it is still at ``version``: one DeleteItem."""
        self._require_id(rule_id)
        try:
            self._store.delete(tenant_id, rule_id, version=version)
        except VersionConflict as conflict:
            raise _refusal(conflict, version) from None
        return RuleDeleted(rule_id=rule_id, version=version)

    @staticmethod
    def _require_id(rule_id: str) -> None:
        if not is_rule_id(rule_id):
            raise NotFound("no such automation rule")


def _refusal(conflict: VersionConflict, version: int) -> NotFound | Conflict:
    """No rule at all is a 404; another version, a 409 that names it (read the rule again)."""
    if conflict.current is None:
        return NotFound("no such automation rule")
    return Conflict(
        f"the rule is at version {conflict.current}, not {version}: someone changed it since it was "
        "read; read it again",
        code="version_conflict",
    )
