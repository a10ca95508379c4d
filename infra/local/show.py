"""Inspect the running local stack: an envelope's tracker, or the events published to the bus."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra.local.offline import go_offline
from infra.local.template import ROOT

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_STATE_FILE = ROOT / ".dealwire" / "local.json"


class ShowError(RuntimeError):
    """Nothing to show: no state file, or the stack is not running."""


def load_state(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ShowError(f"{path} does not exist: start the local stack with `make run` first") from None
    return state


def point_at_stack(state: dict[str, Any]) -> None:
    """Every boto3 client made from here on talks to the stack's moto server, with fake credentials."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": state["aws_endpoint_url"],
            "AWS_DEFAULT_REGION": state["region"],
        }
    )
    go_offline()
    # The functions' own code root, as Lambda has it, for dealwire.store.
    functions = str(ROOT / "functions")
    if functions not in sys.path:
        sys.path.insert(0, functions)


def _plain(value: Any) -> Any:  # noqa: ANN401 - JSON's default hook
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def envelope(state: dict[str, Any], envelope_id: str, tenant_id: str | None) -> dict[str, Any]:
    """The tracker view of one envelope, as the CRM would read it."""
    point_at_stack(state)
    # Imported only now: functions/ is on the path from here (the module is not part of infra).
    store = importlib.import_module("dealwire.store.envelopes")
    tenant = tenant_id or state["tenant_id"]
    tracker = store.EnvelopeStore(state["table_name"]).tracker(tenant, envelope_id)
    if tracker is None:
        raise ShowError(f"no envelope {envelope_id} for tenant {tenant} in {state['table_name']}")
    return {
        "tenant_id": tenant,
        "envelope_id": envelope_id,
        "status": tracker.envelope.get("status"),
        "progress": tracker.progress,
        "envelope": dict(tracker.envelope),
        "recipients": [dict(recipient) for recipient in tracker.recipients],
    }


def drain_events(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every event waiting on the bus tap queue, oldest first; they are removed from the queue."""
    point_at_stack(state)
    sqs = boto3.client("sqs")
    url = state["bus_tap_queue_url"]
    drained: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return drained
        for message in messages:
            drained.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.show", description=__doc__)
    parser.add_argument(
        "--state-file", type=Path, default=DEFAULT_STATE_FILE, help="the running stack's state"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("envelope", help="an envelope's status, recipients and 'signed/total'")
    one.add_argument("envelope_id")
    one.add_argument("--tenant", help="tenant id (default: the stack's default tenant)")
    commands.add_parser("events", help="print and remove the events published to the bus so far")
    args = parser.parse_args(argv)

    try:
        state = load_state(args.state_file)
        if args.command == "envelope":
            output: Any = envelope(state, args.envelope_id, args.tenant)
        else:
            output = drain_events(state)
    except ShowError as exc:
        sys.stderr.write(f"show: {exc}\n")
        return 1
    except (BotoCoreError, ClientError) as exc:
        sys.stderr.write(f"show: the local stack did not answer ({exc}); is `make run` still running?\n")
        return 1
    print(json.dumps(output, indent=2, default=_plain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
