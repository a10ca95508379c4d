"""REST v2.1 ``accounts/{accountId}/connect...`` (configurations, HMAC keys, the failure log), and
the ``/_sim/`` control routes that look at them or change them as DocuSign or a person would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.docusign_sim import retry_queue
from infra.docusign_sim.dates import parse_time
from infra.docusign_sim.errors import SimError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from infra.docusign_sim.account import Account

# (status, JSON body or raw bytes)
Reply = tuple[int, dict[str, Any] | bytes]


def route(  # noqa: PLR0911 - one return per route
    account: Account, method: str, segments: list[str], query: Mapping[str, str], body: Callable[[], object]
) -> Reply:
    """``segments``: the path after ``connect``. ``body`` reads the request's JSON when needed."""
    match (method, segments):
        case ("GET", []):
            with account.lock:
                return 200, account.configurations.results()
        case ("POST", []):
            with account.lock:
                return 201, dict(account.configurations.create(body()).fields)
        case ("PUT", []):
            with account.lock:
                return 200, dict(account.configurations.update(body()).fields)
        case ("GET", ["secret"]):
            with account.lock:
                return 200, {"secrets": account.hmac_keys.listing()}
        case ("POST", ["secret"]):
            with account.lock:
                key = account.hmac_keys.create(account.clock(), account.config.max_hmac_keys)
                return 201, key.as_json(full=True)
        case ("DELETE", ["secret", key_id]):
            with account.lock:
                account.hmac_keys.delete(key_id)
            return 200, {}
        case ("GET", ["failures"]):
            return 200, failures(account, query)
        case ("DELETE", ["failures", failure_id]):
            account.failures.delete(failure_id)
            return 200, {}
        case ("PUT", ["envelopes", "retry_queue"]):  # ConnectEvents: retryForEnvelopes
            envelope_ids, synchronous = retry_queue.requested(body())
            return 200, account.republish(envelope_ids, synchronous=synchronous)
        case ("PUT", ["envelopes", envelope_id, "retry_queue"]):  # ConnectEvents: retryForEnvelope
            return 200, account.republish([envelope_id])
        case ("GET", [connect_id]):
            with account.lock:
                return 200, account.configurations.results([account.configurations.get(connect_id)])
        case ("DELETE", [connect_id]):
            with account.lock:
                account.configurations.delete(connect_id)
            return 200, b""
    raise SimError(404, "INVALID_REQUEST_RESOURCE", "The URL provided does not resolve to a resource.")


def control(  # noqa: PLR0911 - one return per route
    account: Account, method: str, segments: list[str], query: Mapping[str, str], body: Callable[[], object]
) -> Reply | None:
    """``/_sim/connect...`` and ``/_sim/hmac-keys``; ``None`` for any other control path."""
    match (method, segments):
        case ("GET", ["connect"]):
            with account.lock:
                return 200, account.configurations.results()
        case ("GET", ["connect", "failures"]):
            return 200, failures(account, query)
        case ("PUT", ["connect", connect_id]):
            changes = body()
            if not isinstance(changes, dict):
                raise ValueError("a configuration's changes are a JSON object")
            with account.lock:
                return 200, dict(account.configurations.update(changes | {"connectId": connect_id}).fields)
        case ("POST", ["connect", connect_id, "disable"]):
            with account.lock:
                return 200, dict(account.configurations.disable(connect_id).fields)
        case ("GET", ["hmac-keys"]):
            with account.lock:
                return 200, {"hmacKeys": account.hmac_keys.listing(full=True)}
        case ("POST", ["connect", "off"]):
            return 200, account.connect_off(_envelope_ids(body()))
        case ("POST", ["connect", "on"]):
            return 200, account.connect_on(_envelope_ids(body()))
    return None


def _envelope_ids(body: object) -> list[str] | None:
    """``{}`` (the whole account: ``None``) or ``{"envelopeIds": [...]}``."""
    if not isinstance(body, dict):
        raise ValueError('the body is {} (the account) or {"envelopeIds": [...]}')
    ids = body.get("envelopeIds")
    if ids is None:
        return None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise ValueError("envelopeIds is a list of envelope ids, at least one")
    return list(ids)


def failures(account: Account, query: Mapping[str, str]) -> dict[str, Any]:
    """``GET connect/failures``: those created within ``from_date``/``to_date`` when given."""
    since = parse_time(query["from_date"], "from_date") if query.get("from_date") else None
    until = parse_time(query["to_date"], "to_date") if query.get("to_date") else None
    return account.failures.listing(since, until)
