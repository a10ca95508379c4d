"""store_parts: which parts are packed, where each one lands, and what S3 is asked for."""

from __future__ import annotations

import hashlib
import io
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from dealwire.mail import ingest
from dealwire.mail.ingest import store_parts
from dealwire.mail.message import read_mail
from dealwire.store.archive import PACKED_PART_BYTES, StoredObject, is_pack_key

if TYPE_CHECKING:
    import pytest


class RecordingArchive:
    """Keeps what would be stored, by key: the puts store_parts makes, in order."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []

    def put(
        self, key: str, body: bytes | io.BytesIO, content_type: str, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        data = body.getvalue() if isinstance(body, io.BytesIO) else body
        self.puts.append(key)
        self.objects[key] = data
        return StoredObject(key, hashlib.sha256(data).hexdigest(), len(data))

    def put_stream(
        self, key: str, chunks: Any, content_type: str, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        return self.put(key, b"".join(chunks), content_type, metadata)


def mail(*sizes: int) -> bytes:
    message = EmailMessage()
    message["From"] = "u@acme.example"
    message["Subject"] = "parts"
    message.set_content("body\n")
    for index, size in enumerate(sizes):
        message.add_attachment(
            bytes([index % 251]) * size, maintype="application", subtype="octet-stream", filename=f"a{index}"
        )
    return message.as_bytes()


def stored(archive: RecordingArchive, record: dict[str, Any]) -> bytes:
    body = archive.objects[record["key"]]
    if record.get("packed"):
        return body[record["offset"] : record["offset"] + record["size"]]
    return body


def test_parts_up_to_the_limit_are_packed_and_larger_ones_stand_alone() -> None:
    archive = RecordingArchive()
    parsed = read_mail([mail(0, PACKED_PART_BYTES, PACKED_PART_BYTES + 1, 10)])
    records = store_parts(archive, "acme", "m1", parsed)
    assert [bool(r.get("packed")) for r in records] == [True, True, True, False, True]
    assert archive.puts == ["mail/acme/m1/parts/003-a2", "mail/acme/m1/parts/pack-000"]
    for record, part in zip(records, parsed.parts, strict=True):
        expected = b"".join(ingest.part_chunks(part))
        assert stored(archive, record) == expected
        assert record["size"] == len(expected)
        assert record["sha256"] == hashlib.sha256(expected).hexdigest()
    assert records[1]["size"] == 0
    assert records[1]["offset"] == records[0]["size"]


def test_a_pack_is_stored_before_it_would_pass_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "PACK_BYTES", 25_000)
    archive = RecordingArchive()
    records = store_parts(archive, "acme", "m1", read_mail([mail(10_000, 10_000, 10_000, 10_000)]))
    assert archive.puts == [f"mail/acme/m1/parts/pack-00{n}" for n in range(2)]
    assert [r["key"].rsplit("/", 1)[1] for r in records] == ["pack-000"] * 3 + ["pack-001"] * 2
    assert all(len(body) <= 25_000 for body in archive.objects.values())
    # What the API's part links accept: the packs, and nothing else stored for the message.
    assert all(is_pack_key(key) for key in archive.puts)
    assert not any(is_pack_key(key + suffix) for key in archive.puts for suffix in ("/x", "-plan.png"))
    assert not is_pack_key("inbound/mail/acme/m1/parts/pack-000")
    assert [stored(archive, r)[:1] for r in records[1:]] == [bytes([n]) for n in range(4)]


def test_a_message_of_only_large_parts_stores_no_pack() -> None:
    archive = RecordingArchive()
    message = EmailMessage()
    message.set_content(b"\x00" * (PACKED_PART_BYTES + 1), maintype="application", subtype="pdf")
    records = store_parts(archive, "acme", "m1", read_mail([message.as_bytes()]))
    assert archive.puts == ["mail/acme/m1/parts/000-part"]
    assert "packed" not in records[0]
