"""docs/events.md stays true: every example validates, every contract has an example."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dealwire.contracts.crm import AUTOMATION_DETAIL_TYPES, CRM_DETAIL_TYPES
from dealwire.contracts.events import DETAIL_TYPES, JOB_KINDS, PollCycleRequest

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
# What the queues carry: the document queue's jobs, and the poll queue's cycles.
QUEUED = {**JOB_KINDS, "poll_cycle": PollCycleRequest}


def examples() -> list[dict[str, object]]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.DOTALL)]


def test_every_example_validates_against_its_model() -> None:
    for example in examples():
        if example.get("source") == "crm":
            crm = {**CRM_DETAIL_TYPES, **AUTOMATION_DETAIL_TYPES}
            crm[str(example["detail-type"])].model_validate(example["detail"])
        elif "detail-type" in example:
            DETAIL_TYPES[str(example["detail-type"])].model_validate(example["detail"])
        else:
            QUEUED[str(example["kind"])].model_validate(example)


def test_every_contract_is_documented() -> None:
    documented = {str(e.get("detail-type", e.get("kind"))) for e in examples()}
    expected = set(DETAIL_TYPES) | set(QUEUED) | set(CRM_DETAIL_TYPES) | set(AUTOMATION_DETAIL_TYPES)
    assert documented == expected
