"""Forwarded header blocks, read from the text part of synthetic .eml files per client and language."""

from __future__ import annotations

import email
import email.policy
import json
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealwire.mail.forwards import MAX_SCAN_BYTES, MAX_VALUE_CHARS, ForwardedHeaders, find_forward

if TYPE_CHECKING:
    from email.message import EmailMessage

FIXTURES = Path(__file__).parents[1] / "events" / "mail" / "forwards"
EXPECTED: dict[str, dict[str, str | None]] = json.loads((FIXTURES / "expected.json").read_text("utf-8"))


def text_body(name: str) -> str:
    message = email.message_from_bytes((FIXTURES / name).read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    part: EmailMessage | None = message.get_body(preferencelist=("plain",))  # type: ignore[assignment]
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def as_dict(found: ForwardedHeaders) -> dict[str, str | None]:
    return {
        "client": found.client,
        "language": found.language,
        "from": found.from_,
        "to": found.to,
        "cc": found.cc,
        "date": found.date,
        "subject": found.subject,
    }


def test_the_fixtures_cover_every_client_and_the_languages_claimed() -> None:
    assert sorted(path.name for path in FIXTURES.glob("*.eml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 14
    clients = {expected["client"] for expected in EXPECTED.values()}
    languages = {expected["language"] for expected in EXPECTED.values()}
    assert clients == {"gmail", "outlook", "apple", "thunderbird", "generic"}
    assert {"en", "de", "fr", "es", "it", "nl", "sv", "da", "pl"} <= languages


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    found = find_forward(text_body(name))
    assert found is not None
    assert as_dict(found) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_a_forward_by_smart_bcc(name: str) -> None:
    # The forwarding user wrote it and nobody is in To: the shape these fixtures model.
    message = email.message_from_bytes((FIXTURES / name).read_bytes(), policy=email.policy.default)
    assert message["From"].addresses[0].addr_spec == "ulla.user@acme-sales.example"
    assert message["To"] is None
    assert message["Message-ID"]


GMAIL_BLOCK = (
    "---------- Forwarded message ---------\n"
    "From: Jane Doe <jane@example.com>\n"
    "Date: Mon, Jan 1, 2024 at 10:00 AM\n"
    "Subject: Quote\n"
    "To: <bob@example.com>\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            GMAIL_BLOCK,
            ("gmail", "en", "Jane Doe <jane@example.com>", "<bob@example.com>", None, "Quote"),
            id="gmail-bare",
        ),
        pytest.param(
            "Hi\n\n" + "".join(f"> {line}\n" for line in GMAIL_BLOCK.splitlines()),
            ("gmail", "en", "Jane Doe <jane@example.com>", "<bob@example.com>", None, "Quote"),
            id="gmail-quoted",
        ),
        pytest.param(
            "---------- Weitergeleitete Nachricht ---------\n"
            "Von: Jane Doe <jane@example.com>\nDate: Mo., 1. Jan. 2024\n"
            "Subject: Angebot\nTo: Bob <b@x.example>\n",
            ("gmail", "de", "Jane Doe <jane@example.com>", "Bob <b@x.example>", None, "Angebot"),
            id="gmail-de-title",
        ),
        pytest.param(
            "-----Message d'origine-----\r\nDe : Jane Doe [mailto:jane@example.com] \r\n"
            "Envoyé : lundi 1 janvier 2024 10:00\r\nÀ : Bob [mailto:b@x.example]\r\nObjet : Devis\r\n",
            ("outlook", "fr", "Jane Doe <jane@example.com>", "Bob <b@x.example>", None, "Devis"),
            id="outlook-fr-mailto",
        ),
        pytest.param(
            "________________________________\n"
            "From: Jane Doe<mailto:jane@example.com> <jane@example.com<mailto:jane@example.com>>\n"
            "Sent: Monday, January 1, 2024 10:00\nTo: Bob <b@x.example>\nSubject: Quote\n",
            (
                "outlook",
                "en",
                "Jane Doe <jane@example.com> <jane@example.com>",
                "Bob <b@x.example>",
                None,
                "Quote",
            ),
            id="outlook-web-link-text",
        ),
        pytest.param(
            "________________________________\n"
            "*Od:* Jane Doe <jane@example.com>\n*Odesláno:* pondělí 1. ledna 2024 10:00\n"
            "*Komu:* Bob <b@x.example>\n*Předmět:* Nabídka\n",
            ("outlook", "cs", "Jane Doe <jane@example.com>", "Bob <b@x.example>", None, "Nabídka"),
            id="outlook-web-bold-cs",
        ),
        pytest.param(
            "-------- Vidarebefordrat meddelande --------\nSubject: \tOffert\n"
            "Date: \tMon, 1 Jan 2024 10:00:00 +0100\n"
            "From: \tJane Doe <jane@example.com>\nTo: \tb@x.example\n",
            ("thunderbird", "sv", "Jane Doe <jane@example.com>", "b@x.example", None, "Offert"),
            id="thunderbird-sv-title-english-labels",
        ),
        pytest.param(
            "Intro\n\nFrom: Jane Doe <jane@example.com>\nSent: Monday, January 1, 2024 10:00\n"
            "To: Bob <b@x.example>\nSubject: Quote\nBody right after the block.\nMore body.\n",
            ("outlook", "en", "Jane Doe <jane@example.com>", "Bob <b@x.example>", None, "Quote"),
            id="outlook-html-editor-no-rule",
        ),
    ],
)
def test_inline_forms(text: str, expected: tuple[str, str, str, str | None, str | None, str]) -> None:
    found = find_forward(text)
    assert found is not None
    assert (found.client, found.language, found.from_, found.to, found.cc, found.subject) == expected


def test_folded_to_list_is_joined_until_the_next_label() -> None:
    found = find_forward(
        "-----Original Message-----\n"
        "From: Jane Doe <jane@example.com>\n"
        "Sent: Monday, January 1, 2024 10:00 AM\n"
        "To: Ann <ann@x.example>; Bob <bob@x.example>;\n"
        "  Cid <cid@x.example>;\n"
        "Dee <dee@x.example>\n"
        "Cc: Eve <eve@x.example>\n"
        "Subject: Long\n"
        "  subject line\n"
        "Importance: High\n"
        "\n"
        "Body\n"
    )
    assert found is not None
    assert found.to == "Ann <ann@x.example>; Bob <bob@x.example>; Cid <cid@x.example>; Dee <dee@x.example>"
    assert found.cc == "Eve <eve@x.example>"
    assert found.subject == "Long subject line"


def test_the_outermost_forward_wins() -> None:
    inner = GMAIL_BLOCK.replace("Jane Doe <jane@example.com>", "Inner <inner@example.com>")
    outer = GMAIL_BLOCK.replace("Subject: Quote", "Subject: Fwd: Quote")
    found = find_forward("Note\n\n" + outer + "\n\n" + inner)
    assert found is not None
    assert found.from_ == "Jane Doe <jane@example.com>"
    assert found.subject == "Fwd: Quote"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "Thanks!\n\nOn Mon, Jan 1, 2024 at 10:00 Jane <jane@x> wrote:\n> From: what we said\n> Hello\n",
            id="gmail-reply",
        ),
        pytest.param("Le lun. 1 janv. 2024 à 10:00, Jane <jane@x> a écrit :\n> Bonjour\n", id="reply-fr"),
        pytest.param("", id="empty"),
        pytest.param("---------- Forwarded message ---------\n\nnothing here\n", id="title-without-block"),
        pytest.param(
            "---------- Forwarded message ---------\nTo: bob@x.example\nSubject: no sender\n", id="no-from"
        ),
        pytest.param("-----\nFrom: someone\nTo: someone else\n", id="rule-without-date-and-subject"),
        pytest.param("Dear team,\n\nFrom: Monday on, the office is closed.\n", id="prose"),
    ],
)
def test_not_a_forward(text: str) -> None:
    assert find_forward(text) is None


def test_values_lose_control_characters_and_are_capped() -> None:
    found = find_forward(
        "---------- Forwarded message ---------\n"
        "From: Jane\x00 Doe\x1b <jane@example.com>\x7f\n"
        "Date: Mon,\x0b Jan 1\u2028 2024\n"
        f"Subject: {'x' * (3 * MAX_VALUE_CHARS)}\n"
    )
    assert found is not None
    assert found.from_ == "Jane Doe <jane@example.com>"
    assert found.date == "Mon, Jan 1 2024"
    assert found.subject == "x" * MAX_VALUE_CHARS


def test_only_the_first_256_kib_are_read() -> None:
    filler = "é" * (MAX_SCAN_BYTES // 2)  # two bytes each in UTF-8: exactly 256 KiB
    assert find_forward(filler + "\n" + GMAIL_BLOCK) is None
    assert find_forward(filler[: -len(GMAIL_BLOCK)] + "\n" + GMAIL_BLOCK) is not None


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(("-----\n" + "From: " * 2000 + "\n" + "-" * 5000 + "\n") * 160, id="labels-and-rules"),
        pytest.param(("-----\nFrom: " + "From: " * 50 + "\n") * 6000, id="short-blocks"),
        pytest.param("---------- Forwarded message ---------\nFrom: x\n" * 45000, id="titles"),
        pytest.param(("\nFrom: a@b\n" + ("a@b; " * 4000 + "\n") * 38) * 3, id="gaps-and-long-lines"),
        pytest.param("From: " * 350_000, id="one-line"),
        pytest.param(">" * 2_000_000, id="quote-markers"),
        pytest.param(("_" * 32 + "\nFrom: x" + " [mailto:a@b" * 2000 + "\n") * 80, id="mailto"),
        pytest.param(("_" * 32 + "\nFrom: " + "a@b<mailto:a@b>" * 1000 + "\n") * 140, id="mailto-links"),
    ],
)
def test_hostile_bodies_of_2_mb_finish(text: str) -> None:
    # No timing assertion: a backtracking or quadratic path would make this test hang.
    found = find_forward(text)
    assert found is None or all(
        value is None or len(value) <= MAX_VALUE_CHARS for value in as_dict(found).values()
    )


def no_controls(value: str | None) -> bool:
    return value is None or not any(unicodedata.category(char) in {"Cc", "Cs"} for char in value)


LINES = st.sampled_from(
    [
        "---------- Forwarded message ---------",
        "-----Original Message-----",
        "________________________________",
        "Begin forwarded message:",
        "-------- Weitergeleitete Nachricht --------",
        "From: Jane <jane@x.example>",
        "*From:* Jane [mailto:jane@x.example]",
        "Date: today",
        "Sent: today",
        "Subject: s",
        "To: a@b; c@d",
        "Cc: e@f",
        "De : x",
        "> ",
        "",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(LINES, st.text(max_size=40)), max_size=30))
def test_never_raises_and_values_are_clean(lines: list[str]) -> None:
    found = find_forward("\n".join(lines))
    if found is not None:
        assert found.client in {"gmail", "outlook", "apple", "thunderbird", "generic"}
        assert found.from_ is not None
        assert all(no_controls(value) for value in as_dict(found).values())
        assert all(value is None or len(value) <= MAX_VALUE_CHARS for value in as_dict(found).values())


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    found = find_forward(text)
    assert found is None or all(no_controls(value) for value in as_dict(found).values())
