"""The health check's findings, from what the secret, the table and DocuSign said. Pure.

Each finding names the problem and what to do; ``error`` means callbacks are, or will be,
lost or refused; ``warning`` that something is degraded; ``info`` is for the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from dealwire.contracts.integrations import Finding, KeyView
from dealwire.integration.configuration import differences, ours

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dealwire.docusign.connect_admin import AccountHmacKey, ConnectConfiguration, ConnectFailure
    from dealwire.store.tenants import HmacKey

QUIET_DAYS: Final = 7
LOW_BUDGET_SHARE: Final = 0.1
ROTATE = "rotate the key: POST /v1/integrations/docusign/rotate-key"
RECONNECT = "connect again: POST /v1/integrations/docusign, then .../complete"


@dataclass(frozen=True, slots=True)
class Observed:
    """What the health check could find out; None where DocuSign was not asked or did not answer."""

    keys: Sequence[HmacKey]
    connect_id: str | None
    webhook_url: str
    integration: Mapping[str, Any]
    now: datetime
    configurations: Sequence[ConnectConfiguration] | None = None
    listed_keys: Sequence[AccountHmacKey] | None = None
    failures: Sequence[ConnectFailure] | None = None
    budget_limit: int | None = None
    budget_remaining: int | None = None
    budget_reset_at: str | None = None
    # The status poller's last cycle (its poll state's ``last_cycle``), if it has run.
    last_poll: Mapping[str, Any] | None = None
    problems: list[Finding] = field(default_factory=list)


def key_views(observed: Observed) -> list[KeyView]:
    views = []
    for key in observed.keys:
        known = None
        if observed.listed_keys is not None:
            value = key.key.get_secret_value()
            known = any(listed.may_be(value) for listed in observed.listed_keys)
        views.append(
            KeyView(key_id=key.key_id, state=key.state, added_at=key.added_at, known_to_docusign=known)
        )
    return views


def findings(observed: Observed) -> list[Finding]:
    found = list(observed.problems)
    found += _keys(observed)
    found += _configuration(observed)
    found += _callbacks(observed)
    if observed.failures:
        latest = max(observed.failures, key=lambda failure: failure.created or "")
        found.append(
            Finding(
                code="connect_delivery_failures",
                severity="warning",
                message=f"DocuSign logged {len(observed.failures)} failed deliveries in the last "
                f"{QUIET_DAYS} days; the latest: {latest.error or 'no reason given'}",
                action="check the webhook's logs for refusals; DocuSign retries each failed delivery",
            )
        )
    found += _poll(observed.last_poll)
    if (
        observed.budget_limit
        and observed.budget_remaining is not None
        and observed.budget_remaining < observed.budget_limit * LOW_BUDGET_SHARE
    ):
        found.append(
            Finding(
                code="api_budget_low",
                severity="warning",
                message=f"{observed.budget_remaining} of the account's {observed.budget_limit} API calls "
                "this hour are left",
                action="calls wait for the next hour once it is spent; look for another integration "
                "using the same account",
            )
        )
    return found


# A cycle that stopped before the end: the next one goes on, but say why.
_UNFINISHED: Final = {
    "budget_low": "the account's hourly API budget was down to the reserve for sends and documents",
    "out_of_time": "the cycle ran out of time",
    "docusign_refused": "DocuSign refused a call",
    "docusign_unavailable": "DocuSign did not answer",
}


def _poll(last: Mapping[str, Any] | None) -> list[Finding]:
    """What the status poller's last cycle says of Connect's health."""
    if not last:
        return []
    found = []
    reconciled = int(last.get("reconciled", 0) or 0)
    if reconciled:
        found.append(
            Finding(
                code="changes_seen_only_by_polling",
                severity="warning",
                message=f"the last poll cycle found {reconciled} envelope change(s) no Connect callback had "
                "brought: Connect is not delivering every callback",
                action="look at recent_failures and the webhook's logs; the poller keeps the envelopes up "
                "to date meanwhile",
            )
        )
    outcome = str(last.get("outcome", ""))
    if outcome in _UNFINISHED:
        detail = str(last.get("detail") or "")
        found.append(
            Finding(
                code="poll_cycle_unfinished",
                severity="warning" if outcome != "budget_low" else "info",
                message=f"the last poll cycle stopped early: {_UNFINISHED[outcome]}"
                + (f" ({detail[:200]})" if detail else ""),
                action="nothing, if it passes: the next cycle goes on from where this one stopped",
            )
        )
    return found


def _keys(observed: Observed) -> list[Finding]:
    usable = [key for key in observed.keys if key.key.get_secret_value()]
    if not usable:
        return [
            Finding(
                code="no_hmac_key",
                severity="error",
                message="no HMAC key is stored: the webhook refuses every callback",
                action=ROTATE,
            )
        ]
    if observed.listed_keys is None:
        return []
    known = [k for k in usable if any(x.may_be(k.key.get_secret_value()) for x in observed.listed_keys)]
    if not known:
        return [
            Finding(
                code="hmac_key_unknown_to_docusign",
                severity="error",
                message="DocuSign lists none of the stored HMAC keys: callbacks are signed with keys "
                "dealwire does not have",
                action=ROTATE,
            )
        ]
    return []


def _configuration(observed: Observed) -> list[Finding]:
    if observed.configurations is None:
        return []
    mine = ours(observed.configurations, observed.connect_id, observed.webhook_url)
    if mine is None:
        return [
            Finding(
                code="connect_configuration_missing",
                severity="error",
                message="the account has no Connect configuration for dealwire: DocuSign sends no callbacks",
                action=RECONNECT,
            )
        ]
    found = differences(mine, observed.webhook_url)
    if observed.connect_id and mine.connect_id != observed.connect_id:
        found.append(
            Finding(
                code="connect_configuration_replaced",
                severity="warning",
                message=f"the configuration dealwire created ({observed.connect_id}) is gone; "
                f"{mine.connect_id} sends to dealwire instead",
                action=RECONNECT,
            )
        )
    return found


def _callbacks(observed: Observed) -> list[Finding]:
    found = []
    last = observed.integration.get("last_callback_at")
    if not last:
        found.append(
            Finding(
                code="no_callback_yet",
                severity="info",
                message="no callback has been received yet",
                action="send an envelope from the account: its callbacks should arrive within seconds",
            )
        )
    elif _parsed(str(last)) < observed.now - timedelta(days=QUIET_DAYS):
        found.append(
            Finding(
                code="no_recent_callback",
                severity="warning",
                message=f"the last callback arrived {last}, more than {QUIET_DAYS} days ago",
                action="if envelopes were sent since, check the Connect configuration and its failures",
            )
        )
    rotation = observed.integration.get("rotation")
    if isinstance(rotation, dict):
        found.append(
            Finding(
                code="key_rotation_in_progress",
                severity="info",
                message=f"a new HMAC key was added {rotation.get('started_at')}; the old one is deleted "
                "once a callback is verified with the new one",
                action="nothing: the next callback ends the rotation",
            )
        )
    return found


def _parsed(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
