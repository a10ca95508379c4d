"""Reading back what the functions wrote to moto."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from dealwire.store import clients
from dealwire.store.docusign_app import spending_access

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dealwire.settings import DocuSignCallerSettings
    from dealwire.store.budget import Spender
    from dealwire.store.docusign_app import DocuSignAccess
    from infra.local.template import Stack


def simulated_access(settings: DocuSignCallerSettings, sim_url: str, by: Spender) -> DocuSignAccess:
    """The function's own DocuSign access (its calls recorded in the budget), with DocuSign the simulator."""
    return spending_access(settings.model_copy(update={"docusign_auth_host": sim_url}), by)


def bucket(stack: Stack) -> str:
    return stack.physical_name("DocumentsBucket")


def table(stack: Stack) -> str:
    return stack.physical_name("DealwireTable")


def object_keys(stack: Stack, prefix: str = "") -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket(stack), Prefix=prefix)
    return [entry["Key"] for entry in listing.get("Contents", [])]


def read_object(stack: Stack, key: str) -> tuple[bytes, dict[str, Any]]:
    answer = boto3.client("s3").get_object(Bucket=bucket(stack), Key=key)
    return answer["Body"].read(), answer


def item_count(stack: Stack) -> int:
    return int(boto3.client("dynamodb").scan(TableName=table(stack), Select="COUNT")["Count"])


class RequestLog:
    """Counts the AWS requests the functions' own clients make, by operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        for client in (clients.dynamodb(), clients.s3(), clients.secretsmanager()):
            client.meta.events.register("before-call.*.*", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def take(self) -> dict[str, int]:
        taken = dict(self.calls)
        self.calls.clear()
        return taken


@contextmanager
def failing(client: Any, operation: str, code: str, *, times: int | None = None) -> Iterator[dict[str, int]]:
    """``operation`` on ``client`` refused with AWS error ``code`` (the first ``times`` calls, or all).

    Raised from botocore's ``before-call`` event, so it is what the caller sees once
    botocore's own retries are spent. Yields the count of calls made.
    """
    calls = {"n": 0}

    def refuse(**_: Any) -> None:
        calls["n"] += 1
        if times is None or calls["n"] <= times:
            raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)

    event = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, refuse)
    try:
        yield calls
    finally:
        client.meta.events.unregister(event, refuse)


def cancelled(*codes: str) -> ClientError:
    """A TransactionCanceledException with one cancellation reason per item."""
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )
