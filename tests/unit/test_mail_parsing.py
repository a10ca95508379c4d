"""Bounded parsing: hostile messages are refused by reason before the stdlib parser runs away."""

from __future__ import annotations

import base64
import time
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealwire.mail.headers import clean, message_ids, parse_addresses
from dealwire.mail.limits import LimitExceeded, MailLimits, Preflight
from dealwire.mail.message import MailUnreadable, html_text, part_chunks, read_mail, safe_filename
from dealwire.store.archive import content_disposition


def crlf(message: EmailMessage) -> bytes:
    return message.as_bytes().replace(b"\n", b"\r\n")


def chunks(raw: bytes, size: int = 64 * 1024) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def sample(attachments: int = 2, nested: bool = True) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Ulla User <ulla.user@acme-sales.example>"
    message["Subject"] = "Proposal"
    message.set_content("hello\n--not-a-boundary\n")
    message.add_alternative("<p>hello</p>", subtype="html")
    for index in range(attachments):
        message.add_attachment(
            bytes(range(256)) * 40, maintype="application", subtype="pdf", filename=f"a{index}.pdf"
        )
    if nested:
        inner = EmailMessage()
        inner["From"] = "carla@customer-corp.example"
        inner.set_content("inner")
        message.add_attachment(inner)
    return message


def nest(depth: int) -> bytes:
    body = b"x\r\n"
    for level in range(depth):
        boundary = b"b%d" % level
        body = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\r\n\r\n--'
            + boundary
            + b"\r\n"
            + body
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    return b"From: a@b.example\r\n" + body


# -- refused by reason ---------------------------------------------------------------------


def test_a_mime_bomb_of_ten_thousand_parts_is_refused() -> None:
    boundary = "bomb"
    parts = "".join(f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n{i}\r\n" for i in range(10_000))
    head = f'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
    raw = f"{head}{parts}--{boundary}--\r\n"
    with pytest.raises(LimitExceeded) as refused:
        read_mail(chunks(raw.encode()))
    assert refused.value.reason == "too_many_parts"


def test_ten_thousand_headers_are_refused() -> None:
    raw = b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)) + b"From: a@b.example\r\n\r\nbody\r\n"
    with pytest.raises(LimitExceeded) as refused:
        read_mail(chunks(raw))
    assert refused.value.reason == "too_many_headers"


def test_nesting_past_the_recursion_limit_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(LimitExceeded) as refused:
        read_mail(chunks(nest(2_000)))
    assert refused.value.reason == "too_deep"


def test_an_encoded_word_flood_in_one_header_is_refused_before_parsing() -> None:
    flood = " ".join(["=?utf-8?q?=41?="] * 200_000)
    raw = f"From: a@b.example\r\nSubject: {flood}\r\n\r\nbody\r\n".encode()
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as refused:
        read_mail(chunks(raw))
    assert refused.value.reason == "header_too_long"
    del started  # timing is for make bench, not for tests


def test_a_folded_header_counts_all_its_lines() -> None:
    raw = b"From: a@b.example\r\nTo: x@y.example" + b",\r\n z@y.example" * 10_000 + b"\r\n\r\nbody\r\n"
    with pytest.raises(LimitExceeded) as refused:
        read_mail(chunks(raw))
    assert refused.value.reason == "header_too_long"


def test_a_message_over_the_size_limit_is_refused() -> None:
    with pytest.raises(LimitExceeded) as refused:
        read_mail(chunks(crlf(sample(attachments=20))), MailLimits(max_message_bytes=100_000))
    assert refused.value.reason == "message_too_large"


def test_an_empty_message_is_unreadable() -> None:
    with pytest.raises(MailUnreadable) as refused:
        read_mail([])
    assert refused.value.reason == "empty"


# -- read in full ----------------------------------------------------------------------------


def test_the_scanner_counts_what_the_parser_finds() -> None:
    raw = crlf(sample())
    preflight = Preflight(MailLimits())
    for piece in chunks(raw, 100):
        preflight.feed(piece)
    preflight.close()
    parsed = read_mail(chunks(raw))
    # The walk also yields each message/rfc822 container beside the message inside it.
    assert preflight.parts == sum(1 for _ in parsed.root.walk()) - len(parsed.attached)
    assert [p.role for p in parsed.parts] == ["text", "html", "attachment", "attachment", "inline"]
    assert parsed.parts[-1].in_attached_message
    assert parsed.attached[0].from_[0].email == "carla@customer-corp.example"


@settings(max_examples=40, deadline=None)
@given(size=st.integers(min_value=1, max_value=5_000))
def test_chunk_boundaries_change_nothing(size: int) -> None:
    raw = crlf(sample(attachments=1))
    preflight = Preflight(MailLimits())
    for piece in chunks(raw, size):
        preflight.feed(piece)
    preflight.close()
    assert (preflight.parts, preflight.max_depth_seen) == (6, 2)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=20_000), width=st.sampled_from([0, 60, 76, 998]))
def test_base64_is_decoded_slice_by_slice_to_the_same_bytes(data: bytes, width: int) -> None:
    message = EmailMessage()
    message["From"] = "a@b.example"
    message.set_content(data, maintype="application", subtype="octet-stream")
    del message["Content-Transfer-Encoding"]
    message["Content-Transfer-Encoding"] = "base64"
    encoded = base64.b64encode(data).decode()
    if width:
        encoded = "\r\n".join(encoded[i : i + width] for i in range(0, len(encoded), width))
    message.set_payload(encoded)
    [part] = read_mail([message.as_bytes()]).parts
    assert b"".join(part_chunks(part)) == data


def test_an_unknown_charset_degrades_to_replacement_characters() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: =?x-bogus?q?caf=C3=A9?=\r\n"
        b'Content-Type: text/plain; charset="x-unknown-8bit"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        b"caf\xc3\xa9 \xff\r\n"
    )
    parsed = read_mail([raw])
    assert parsed.headers.subject is not None
    assert "\r" not in parsed.headers.subject
    [part] = parsed.parts
    assert b"".join(part_chunks(part)) == b"caf\xc3\xa9 \xff\r\n"


def test_decoded_header_values_never_carry_line_breaks_or_nul() -> None:
    raw = (
        b"From: =?utf-8?q?Eve=0D=0ABcc=3A_x=40y=00?= <eve@b.example>\r\n"
        b"Subject: =?utf-8?q?a=0D=0AX-Injected=3A_1?=\r\n\r\nx\r\n"
    )
    parsed = read_mail([raw])
    assert parsed.headers.subject == "a X-Injected: 1"
    assert parsed.headers.from_[0].name == "Eve Bcc: x@y"


def test_attachment_names_with_traversal_and_nul_become_safe_key_segments() -> None:
    raw = (
        b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd\r\n\r\nx\r\n--b\r\n"
        b"Content-Type: text/plain\r\nContent-Disposition: attachment;"
        b' filename="=?utf-8?q?evil=00name=0D=0A.txt?="\r\n\r\ny\r\n--b--\r\n'
    )
    names = [part.filename for part in read_mail([raw]).parts]
    assert names == ["../../etc/passwd", "evil name .txt"]
    assert [safe_filename(name, "part") for name in names] == ["passwd", "evil_name_.txt"]


@pytest.mark.parametrize("name", ["..", "...", "/", "\\\\server\\share\\..", "\x00", ""])
def test_names_that_are_only_path_give_the_fallback(name: str) -> None:
    assert safe_filename(name, "part") == "part"


@given(st.text(max_size=500))
def test_clean_text_is_one_printable_line(value: str) -> None:
    cleaned = clean(value)
    assert not any(ch in cleaned for ch in "\r\n\x00\t")
    assert len(cleaned) <= 998


def test_addresses_are_parsed_strictly() -> None:
    # CVE-2023-27043: the lax parser read this as alice@example.org.
    assert parse_addresses(['"alice@example.org" <bob@example.com>']) == [
        parse_addresses(["bob@example.com"])[0].__class__(email="bob@example.com", name="alice@example.org")
    ]
    assert parse_addresses(["alice@example.org)<bob@example.com>"]) == []


def test_references_keep_the_root_and_the_newest_when_trimmed() -> None:
    ids = message_ids([" ".join(f"<m{i}@x>" for i in range(200))])
    assert ids[0] == "m0@x"
    assert ids[-1] == "m199@x"
    assert len(ids) == 64


def test_html_becomes_lines() -> None:
    assert html_text("<div>From: a</div><br><p>Sent: b</p><script>x</script>") == "From: a\nSent: b"


def test_headers_parsed_once_read_as_the_default_policy_reads_them() -> None:
    """Every corpus message, and a header repeated in every part: the cached parse answers
    exactly what ``policy.default`` answers, part by part."""
    from email import message_from_bytes, policy
    from pathlib import Path

    from dealwire.mail.message import PARSE_POLICY

    corpus = sorted((Path(__file__).resolve().parents[1] / "events" / "mail" / "corpus").glob("*.eml"))
    repeated = sample(attachments=3)
    for part in repeated.iter_attachments():
        part.replace_header("Content-Disposition", "attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe.pdf")
    raws = [path.read_bytes() for path in corpus] + [crlf(repeated)]
    assert len(raws) > 10
    for raw in raws:
        ours, theirs = (
            message_from_bytes(raw, policy=PARSE_POLICY),
            message_from_bytes(raw, policy=policy.default),
        )
        for mine, default in zip(ours.walk(), theirs.walk(), strict=True):
            for name in ("subject", "from", "to", "content-type", "content-disposition", "message-id"):
                assert [str(v) for v in mine.get_all(name, [])] == [str(v) for v in default.get_all(name, [])]
            assert mine.get_filename() == default.get_filename()
            assert mine.get_content_type() == default.get_content_type()
            assert mine.get_content_charset() == default.get_content_charset()
    names = [
        p.get_filename() for p in message_from_bytes(crlf(repeated), policy=PARSE_POLICY).iter_attachments()
    ]
    assert len(names) >= 3
    assert set(names) == {"Grüße.pdf"}


@pytest.mark.parametrize(
    ("name", "key_segment"),
    [("CON", "_CON"), ("nul.txt", "_nul.txt"), ("Com1.tar.gz", "_Com1.tar.gz"), ("lpt9", "_lpt9"),
     ("CONTRACT.pdf", "CONTRACT.pdf"), ("aux-notes.txt", "aux-notes.txt"), ("..\\..\\PRN", "_PRN")],
)  # fmt: skip
def test_windows_device_names_are_never_a_key_segment_as_they_are(name: str, key_segment: str) -> None:
    assert safe_filename(name, "part") == key_segment


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("../../x", 'attachment; filename="x"'),
        ("..\\..\\boot.ini", 'attachment; filename="boot.ini"'),
        ("CON", 'attachment; filename="_CON"'),
        ("nul.pdf", 'attachment; filename="_nul.pdf"'),
        ("a\x00b\r\nSet-Cookie: x.pdf", 'attachment; filename="a_b__Set-Cookie: x.pdf"'),
        ("../", 'attachment; filename="download"'),
        (
            "Vertrag für Acme.pdf",
            "attachment; filename=\"Vertrag f_r Acme.pdf\"; filename*=UTF-8''Vertrag%20f%C3%BCr%20Acme.pdf",
        ),
    ],
)
def test_a_download_name_is_one_file_name_whatever_the_sender_called_it(name: str, header: str) -> None:
    assert content_disposition(name) == header
