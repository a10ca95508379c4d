"""Reading back what the functions wrote to moto."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import boto3

from dealwire.store import clients

if TYPE_CHECKING:
    from infra.local.template import Stack


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
