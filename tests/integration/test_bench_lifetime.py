"""bench/lifetime.py's counts add up: one envelope's life, cold then warm, counts only (never timings)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest

from bench.lifetime import DAYS_OPEN, POLLS_PER_DAY, lives, naive, naive_docusign
from bench.moto_stack import connected_stack
from infra.local import moto_dynamodb

if TYPE_CHECKING:
    from bench.lifetime import Life


@pytest.fixture(scope="module")
def life() -> tuple[Life, Life]:
    with connected_stack("StageTriggerFunction") as (env, key):
        counted = lives(env, key)
    moto_dynamodb.install()  # connected_stack took the session's patches away with its own
    return counted


def test_the_duplicate_callback_writes_no_envelope_state(life: tuple[Life, Life]) -> None:
    for one in life:
        assert (one.callbacks, one.new_callbacks) == (7, 6)
        # No item changed, nothing on the stream: the duplicate, and the late delivery that the
        # signer 1 completion (newer, and saying signer 2 had opened it) had made stale.
        assert one.unchanged == ["signer 2 delivered (out of order)", "signer 1 completed again (duplicate)"]
        answers = {name: status for name, status, _ in one.outcomes}
        assert answers["signer 1 completed again (duplicate)"] == "stale"
        assert one.aws.requests["DynamoDB TransactWriteItems"] >= one.callbacks  # one each, stale too


def test_docusign_calls_are_the_create_and_the_two_documents_when_warm(life: tuple[Life, Life]) -> None:
    cold, warm = life
    assert warm.docusign == Counter({"create envelope": 1, "document combined": 1, "document certificate": 1})
    assert cold.docusign - warm.docusign == Counter(
        {"token (cold)": 1, "userinfo (cold)": 1, "template read (cold)": 1}
    )
    assert warm.documents == 2


def test_the_requests_match_the_life(life: tuple[Life, Life]) -> None:
    cold, warm = life
    for one in (cold, warm):
        # Every callback archived, then the two documents.
        assert one.aws.requests["S3 PutObject"] == one.callbacks + one.documents
        assert one.aws.requests["SQS SendMessage"] == 1  # the one document job
        assert one.published.count("envelope.completed") == 1
        assert one.published.count("envelope.documents_stored") == 1
        assert one.aws.units["EventBridge"] == len(one.published)
        assert one.aws.requests["EventBridge PutEvents"] <= one.aws.units["EventBridge"]
    assert warm.aws.requests["Secrets Manager GetSecretValue"] == 0  # cached since the cold life
    assert cold.aws.requests["Secrets Manager GetSecretValue"] > 0


def test_the_naive_design_is_computed_from_the_same_life(life: tuple[Life, Life]) -> None:
    _, warm = life
    design = naive(warm)
    assert design.requests["SQS SendMessage"] == design.requests["DynamoDB GetItem"] == warm.callbacks
    assert design.requests["S3 PutObject"] == warm.documents
    assert design.requests["DynamoDB UpdateItem"] == warm.callbacks + 2  # idempotency per event
    assert naive_docusign(warm)["poll GET envelope (every 15 min)"] == DAYS_OPEN * POLLS_PER_DAY == 192
