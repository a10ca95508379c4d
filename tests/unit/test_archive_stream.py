"""Archive.put_stream: bounded memory, whole-object SHA-256, no partial object on failure."""

from __future__ import annotations

import hashlib
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dealwire.store.archive import PART_SIZE, Archive


class RecordingS3:
    """Keeps only sizes and checksums of what it is sent, like a far-away bucket."""

    def __init__(self, fail_on_part: int | None = None) -> None:
        self.calls: list[str] = []
        self.parts: list[tuple[int, int, str]] = []
        self.fail_on_part = fail_on_part
        self.put_size = 0

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("PutObject")
        self.put_size = len(kwargs["Body"])
        return {}

    def create_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("CreateMultipartUpload")
        assert kwargs["ChecksumAlgorithm"] == "SHA256"
        return {"UploadId": "u-1"}

    def upload_part(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("UploadPart")
        if kwargs["PartNumber"] == self.fail_on_part:
            raise ConnectionError("network went away")
        self.parts.append((kwargs["PartNumber"], len(kwargs["Body"]), kwargs["ChecksumSHA256"]))
        return {"ETag": f'"etag-{kwargs["PartNumber"]}"'}

    def complete_multipart_upload(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append("CompleteMultipartUpload")
        assert [p["PartNumber"] for p in kwargs["MultipartUpload"]["Parts"]] == [n for n, _, _ in self.parts]
        return {}

    def abort_multipart_upload(self, **_: Any) -> dict[str, Any]:
        self.calls.append("AbortMultipartUpload")
        return {}


def chunks(total: int, size: int = 1024 * 1024) -> Any:
    block = bytes(range(256)) * (size // 256)
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        sent += len(piece)
        yield piece


def test_a_small_document_is_one_put_with_its_sha256() -> None:
    s3 = RecordingS3()
    stored = Archive("b", client=s3).put_stream("k.pdf", chunks(300_000, 65_536), "application/pdf")  # type: ignore[arg-type]
    assert s3.calls == ["PutObject"]
    assert stored.size == s3.put_size == 300_000
    assert stored.sha256 == hashlib.sha256(b"".join(chunks(300_000, 65_536))).hexdigest()


def test_a_50_mb_document_streams_in_parts_holding_about_one_part() -> None:
    s3 = RecordingS3()
    total = 50 * 1024 * 1024
    tracemalloc.start()
    try:
        stored = Archive("b", client=s3).put_stream("k.pdf", chunks(total), "application/pdf")  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == total
    assert s3.calls[0] == "CreateMultipartUpload"
    assert s3.calls[-1] == "CompleteMultipartUpload"
    assert [size for _, size, _ in s3.parts][:-1] == [PART_SIZE] * (len(s3.parts) - 1)
    # One part buffered plus the copy handed to S3; never the whole document.
    assert peak < 3 * PART_SIZE
    assert peak < total / 2


def test_a_failed_part_aborts_the_upload_so_no_partial_object_remains() -> None:
    s3 = RecordingS3(fail_on_part=2)
    with pytest.raises(ConnectionError):
        Archive("b", client=s3).put_stream("k.pdf", chunks(3 * PART_SIZE), "application/pdf")  # type: ignore[arg-type]
    assert s3.calls[-1] == "AbortMultipartUpload"
    assert "CompleteMultipartUpload" not in s3.calls


@given(st.text(max_size=1100))
def test_metadata_values_are_printable_ascii_whatever_the_path(value: str) -> None:
    from dealwire.store.archive import _ascii

    assert _ascii(value) == "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in value)[:1024]
