"""`python -m infra.local.stage`: the CRM moves a deal into a stage, as `deal.stage_changed` on the local bus.

EventBridge routes it to stage_trigger as the template's rule says; with the seeded rule
(`infra/local/rules.yaml`, stage `contract`) an envelope goes out to the deal's contacts.
Prints the event's id.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from infra.local.offline import go_offline
from infra.local.show import DEFAULT_STATE_FILE, load_state

if TYPE_CHECKING:
    from collections.abc import Sequence

# The contact make run seeds (person-1, deal-1's), and a second to fill the second role.
DEFAULT_CONTACTS = ("Carla Customer <carla@customer.localhost>", "Dan Decider <dan@customer.localhost>")


def stage_changed(
    state: dict[str, Any],
    *,
    deal: str,
    title: str,
    stage: str,
    contacts: Sequence[str],
    at: str | None = None,
) -> dict[str, Any]:
    """The event's detail, as the CRM would send it (the first contact is the primary one)."""
    people = []
    for position, contact in enumerate(contacts):
        name, email = parseaddr(contact)
        if not email:
            raise SystemExit(f"--contact {contact!r}: give 'Name <email>'")
        people.append(
            {
                "personId": f"person-{position + 1}",
                "name": name or email,
                "email": email,
                "primary": position == 0,
            }
        )
    return {
        "tenantId": state["tenant_id"],
        "dealId": deal,
        "title": title,
        "pipelineId": "pipeline-1",
        "toStageId": stage,
        "contacts": people,
        "userId": "user-1",
        "userName": "Dev User",
        "updatedAt": at or datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.stage", description=__doc__.splitlines()[0])
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    parser.add_argument("--deal", default="deal-1", help="the deal (default deal-1, seeded)")
    parser.add_argument("--title", default="First deal", help="the deal's title (merged into the subject)")
    parser.add_argument(
        "--stage", default="contract", help="the stage it enters (the seeded rule's: contract)"
    )
    parser.add_argument(
        "--contact",
        action="append",
        default=None,
        metavar="'NAME <EMAIL>'",
        help="a contact, in the deal's order",
    )
    args = parser.parse_args(argv)
    state = load_state(args.state_file)
    go_offline()
    detail = stage_changed(
        state, deal=args.deal, title=args.title, stage=args.stage, contacts=args.contact or DEFAULT_CONTACTS
    )
    events = boto3.client("events", region_name=state["region"], endpoint_url=state["aws_endpoint_url"])
    answer = events.put_events(
        Entries=[
            {
                "Source": state.get("crm_event_source", "crm"),
                "DetailType": "deal.stage_changed",
                "Detail": json.dumps(detail),
                "EventBusName": state["event_bus_name"],
            }
        ]
    )
    entry = answer["Entries"][0]
    if "EventId" not in entry:
        sys.stderr.write(f"the bus refused the event: {entry}\n")
        return 1
    print(entry["EventId"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
