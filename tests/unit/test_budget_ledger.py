"""The ledger records what each client spent since it last settled, and writes nothing for nothing."""

from __future__ import annotations

from typing import Any

from dealwire.docusign.client import RateLimitState
from dealwire.store.budget import BudgetLedger


class Client:
    def __init__(self) -> None:
        self.api_requests = 0
        self.rate_limit = RateLimitState(limit=3000, remaining=2990)


class Store:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, int, str]] = []

    def record(self, tenant_id: str, *, calls: int, by: str, client: Any) -> None:
        self.recorded.append((tenant_id, calls, by))


def test_each_settle_records_the_calls_since_the_last_and_none_when_there_were_none() -> None:
    store, client = Store(), Client()
    ledger = BudgetLedger(store, "send")  # type: ignore[arg-type]
    client.api_requests = 3
    assert ledger.settle("acme", client) == 3  # type: ignore[arg-type]
    assert ledger.settle("acme", client) == 0  # type: ignore[arg-type]  # a redelivery: no call
    client.api_requests = 4
    assert ledger.settle("acme", client) == 1  # type: ignore[arg-type]
    assert store.recorded == [("acme", 3, "send"), ("acme", 1, "send")]
