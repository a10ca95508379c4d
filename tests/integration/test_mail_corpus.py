"""The fixture corpus through mail_ingest: each message ends stored and linked, or refused with a reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.mail_support import (
    CARLA,
    ingest,
    part_bytes,
    put_raw,
    seed_crm,
    ses_event,
    thread_and_messages,
)

if TYPE_CHECKING:
    from infra.local.template import Stack

MAIL = Path(__file__).resolve().parents[1] / "events" / "mail"
CORPUS = json.loads((MAIL / "corpus" / "expected.json").read_text())
FORWARDS = json.loads((MAIL / "forwards" / "expected.json").read_text())
# The corpus is addressed to its own Smart BCC domain; the tests' tenant is "default".
BCC = "default@bcc.dealwire.test"
REFUSED = {"bounce-dsn.eml": "sender_not_allowed"}


def stored(stack: Stack, thread_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    thread, [message] = thread_and_messages(stack, thread_id)
    return thread, message


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_message(aws: Stack, name: str) -> None:
    expected = CORPUS[name]
    seed_crm(aws)
    put_raw(aws, "m1", (MAIL / "corpus" / name).read_bytes())
    [outcome] = ingest(ses_event("m1", recipients=[BCC]))["outcomes"]
    if name in REFUSED:
        assert (outcome["status"], outcome["reason"]) == ("rejected", REFUSED[name])
        return
    assert outcome["status"] == "stored", outcome
    thread, message = stored(aws, outcome["threadId"])
    original = expected.get("original")
    if original:
        assert message["kind"] == "forward"
        assert [a["email"] for a in message["from"]] == [original["from"]]
        assert message["subject"] == original["subject"]
        assert message["message_id"] == original["message_id"].strip("<>")
    else:
        assert message["filed_by"]["email"] == expected["from"]
        assert message.get("subject") == expected["subject"]
        assert message["message_id"] == expected["message_id"].strip("<>")
        assert [a["email"] for a in message["to"]] == expected["to"]
    if CARLA in {a["email"] for a in message["to"] + message["cc"] + message["from"]}:
        assert thread["deal_id"] == "deal-42"
    parts = {part["filename"]: part for part in message["parts"] if part["filename"]}
    for attachment in expected["attachments"]:
        part = (
            parts[attachment["filename"].replace("\x00", " ").replace("\r\n", " ").strip()]
            if "\x00" not in attachment["filename"]
            else None
        )
        if part is None:
            continue
        assert part["size"] == attachment["size"]
        assert part["content_type"] == attachment["content_type"]
        assert len(part_bytes(aws, part)) == attachment["size"]
        assert ".." not in part["key"]
    text = next((part for part in message["parts"] if part["role"] in {"text", "html"}), None)
    assert text is not None
    body = part_bytes(aws, text)
    phrase = (original or expected)["text_contains"]
    if not original:
        assert squeeze(phrase) in squeeze(message["snippet"]) + squeeze(body.decode("utf-8", "replace"))


def squeeze(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", sorted(FORWARDS))
def test_a_forward_from_each_client_links_the_original_sender(aws: Stack, name: str) -> None:
    expected = FORWARDS[name]
    seed_crm(aws)
    put_raw(aws, "m1", (MAIL / "forwards" / name).read_bytes())
    [outcome] = ingest(ses_event("m1", recipients=[BCC]))["outcomes"]
    assert outcome["status"] == "stored", outcome
    thread, message = stored(aws, outcome["threadId"])
    assert message["kind"] == "forward"
    wanted = expected["from"].rsplit("<", 1)[-1].rstrip(">").lower()
    assert [a["email"] for a in message["from"]] == [wanted]
    if wanted == CARLA:
        assert "person-17" in thread["contact_ids"]
