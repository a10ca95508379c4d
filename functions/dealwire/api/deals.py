"""Deals as the CRM's deal view shows them: the tenant's list, and one deal with its contacts,
its stage and what its automation rules did (sent, skipped, failed and why).

dealwire keeps deals as the CRM publishes them (``crm_projection``); this is a read of that
projection and of the stage trigger's records, keyed by the caller's tenant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dealwire.api.errors import NotFound
from dealwire.contracts.api import AutomationView, DealContact, DealPage, DealStage, DealSummary, DealView
from dealwire.domain.ids import is_crm_id
from dealwire.domain.items import ItemKind
from dealwire.store.table import item_kind

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dealwire.store.crm import CrmProjection


def _summary(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "dealId": item["deal_id"],
        "title": item.get("title"),
        "status": item.get("status"),
        "personIds": list(item.get("person_ids") or ()),
        "ownerUserId": item.get("owner_user_id"),
        "updatedAt": item.get("updated_at"),
    }


def _automation(item: Mapping[str, Any]) -> AutomationView:
    return AutomationView.model_validate(
        {
            "ruleId": item["rule_id"],
            "state": item.get("state", "claimed"),
            "envelopeId": item.get("envelope_id"),
            "reason": item.get("reason"),
            "reasonDetail": item.get("reason_detail"),
            "claimedAt": item.get("claimed_at"),
            "sentAt": item.get("sent_at"),
            "failedAt": item.get("failed_at"),
            "skippedAt": item.get("skipped_at"),
            "warnings": list(item.get("warnings") or ()),
        }
    )


class Deals:
    def __init__(self, crm: CrmProjection) -> None:
        self._crm = crm

    def page(self, tenant_id: str, *, limit: int, cursor: str | None) -> DealPage:
        """The tenant's deals, last updated first (deleted ones left out)."""
        page = self._crm.deals(tenant_id, limit=limit, cursor=cursor)
        return DealPage(
            deals=[DealSummary.model_validate(_summary(item)) for item in page.items], cursor=page.cursor
        )

    def view(self, tenant_id: str, deal_id: str) -> DealView:
        """The deal, its stage and automations (one Query), and its contacts (one BatchGetItem)."""
        items = self._crm.deal_partition(tenant_id, deal_id) if is_crm_id(deal_id) else []
        by_kind: dict[ItemKind | None, list[dict[str, Any]]] = {}
        for item in items:
            by_kind.setdefault(item_kind(item), []).append(item)
        heads = by_kind.get(ItemKind.DEAL, [])
        if not heads or heads[0].get("status") == "deleted":
            raise NotFound("no such deal")
        deal = heads[0]
        person_ids = list(deal.get("person_ids") or ())
        persons = {str(p["person_id"]): p for p in self._crm.persons(tenant_id, person_ids)}
        stages = by_kind.get(ItemKind.DEAL_STAGE, [])
        return DealView.model_validate(
            {
                **_summary(deal),
                "contacts": [
                    DealContact(
                        person_id=person,
                        name=persons.get(person, {}).get("name"),
                        emails=list(persons.get(person, {}).get("emails") or ()),
                    )
                    for person in person_ids
                ],
                "stage": DealStage(
                    pipeline_id=stages[0].get("pipeline_id"),
                    stage_id=stages[0].get("stage_id"),
                    changed_at=stages[0].get("changed_at"),
                )
                if stages
                else None,
                "automations": [_automation(item) for item in by_kind.get(ItemKind.AUTOMATION, [])],
            }
        )
