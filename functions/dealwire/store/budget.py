"""A DocuSign account's hourly API budget, shared by every function that calls it.

One item per tenant (one account) and hour (``table.API_BUDGET``): what DocuSign last
reported in ``X-RateLimit-*`` (the remaining count only ever goes down within its
window, so a report is kept only if it is lower: the counter's condition), and how many
calls each part of dealwire made. The poller reads it before it calls, and leaves a
reserve for sends and documents.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal

from botocore.exceptions import ClientError

from dealwire.domain.polling import BudgetView, hour_of
from dealwire.store import table
from dealwire.store.table import TTL_ATTRIBUTE, TableStore, error_code, serialize

if TYPE_CHECKING:
    from dealwire.docusign.client import DocuSignClient

# Who spent the calls: one counter each, beside the total.
Spender = Literal["poll", "documents", "send", "api", "integration"]
KEEP_SECONDS: Final = 2 * 24 * 3600


def _window(reset_at: datetime | None, now: float) -> str:
    """The hour a report belongs to: the one its reset ends (DocuSign's window), else now's."""
    if reset_at is not None:
        return hour_of(datetime.fromtimestamp(reset_at.timestamp() - 1, UTC))
    return hour_of(datetime.fromtimestamp(now, UTC))


class BudgetStore(TableStore):
    def current(self, tenant_id: str, now: float | None = None) -> BudgetView:
        """This hour's budget as last reported (an empty view when nothing was): one GetItem."""
        hour = hour_of(datetime.fromtimestamp(now if now is not None else time.time(), UTC))
        item = self._get(table.api_budget_key(tenant_id, hour)) or {}
        limit, remaining = item.get("limit"), item.get("remaining")
        return BudgetView(
            hour=hour,
            limit=int(limit) if limit is not None else None,
            remaining=int(remaining) if remaining is not None else None,
            calls=int(item.get("calls", 0)),
        )

    def record(
        self, tenant_id: str, *, calls: int, by: Spender, client: DocuSignClient, now: float | None = None
    ) -> None:
        """Add ``calls`` made by ``by`` and keep DocuSign's report if it is the lowest yet: one
        conditional UpdateItem (two when the report is not the lowest). Nothing to add, nothing written."""
        moment = now if now is not None else time.time()
        rate = client.rate_limit
        if calls <= 0 and rate.remaining is None:
            return
        key = table.api_budget_key(tenant_id, _window(rate.reset_at, moment)).item()
        values = {
            ":n": calls,
            ":t": tenant_id,
            ":e": int(moment) + KEEP_SECONDS,
            ":at": datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        counted = f"ADD calls :n, calls_{by} :n SET tenant_id = :t, #ttl = :e, observed_at = :at"
        names = {"#ttl": TTL_ATTRIBUTE}
        if rate.remaining is not None:
            reported = {":r": rate.remaining, ":l": rate.limit or 0}
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression=f"{counted}, remaining = :r, #limit = :l",
                    ConditionExpression="attribute_not_exists(remaining) OR remaining > :r",
                    ExpressionAttributeNames={**names, "#limit": "limit"},
                    ExpressionAttributeValues=serialize({**values, **reported}),
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
            else:
                return
        if calls > 0:
            self.client.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression=counted,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
            )


class BudgetLedger:
    """What one function's DocuSign clients spent since it last said, recorded per tenant.

    A client outlives an invocation (warm starts reuse it, and its token), so the ledger
    remembers each client's request count and records only the difference.
    """

    def __init__(self, store: BudgetStore, by: Spender) -> None:
        self._store = store
        self._by = by
        self._counted: dict[int, int] = {}

    def settle(self, tenant_id: str, client: DocuSignClient) -> int:
        """Record the calls ``client`` made since the last settle; gives their number. None made:
        nothing is written (what DocuSign last said was recorded with the calls that learnt it)."""
        before = self._counted.get(id(client), 0)
        calls = client.api_requests - before
        self._counted[id(client)] = client.api_requests
        if calls > 0:
            self._store.record(tenant_id, calls=calls, by=self._by, client=client)
        return calls
