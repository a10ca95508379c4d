"""The documents bucket: raw Connect messages as received, and documents Connect carried."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from dealwire.domain.filenames import last_segment, not_a_device
from dealwire.domain.timestamps import compact
from dealwire.store import clients

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from dealwire.domain.envelope_event import ConnectDocument

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# How S3 says an object is not there: GetObject/PutObjectTagging, and HeadObject's bare status.
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def safe_token(value: str, limit: int = 80) -> str:
    """A key segment: no slashes, no control characters, no dot-only names."""
    token = _UNSAFE.sub("-", value).strip(".-")[:limit]
    return token or "unnamed"


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def connect_key(
    tenant_id: str, envelope_id: str, *, generated: str, event: str, digest: str, ext: str
) -> str:
    """Deterministic per message: a redelivered message overwrites its own archive."""
    return (
        f"connect/{safe_token(tenant_id)}/{safe_token(envelope_id)}/"
        f"{compact(generated)}_{safe_token(event, 40)}_{digest[:16]}.{ext}"
    )


def connect_prefix(tenant_id: str, envelope_id: str | None = None) -> str:
    """Where a tenant's (or one envelope's) archived messages are: ``connect_key``'s folders."""
    base = f"connect/{safe_token(tenant_id)}/"
    return base + f"{safe_token(envelope_id)}/" if envelope_id else base


def rejected_prefix(tenant_id: str) -> str:
    return f"connect-rejected/{safe_token(tenant_id)}/"


def rejected_key(tenant_id: str, received: str, digest: str, ext: str) -> str:
    return f"connect-rejected/{safe_token(tenant_id)}/{received[:10]}/{compact(received)}_{digest[:16]}.{ext}"


def signed_document_key(tenant_id: str, envelope_id: str, name: str) -> str:
    """Where the document job stores ``combined``, ``certificate`` or ``document-<id>``."""
    return f"documents/{safe_token(tenant_id)}/{safe_token(envelope_id)}/signed/{safe_token(name, 60)}.pdf"


def original_document_key(tenant_id: str, envelope_id: str, document_id: str, signatures: int) -> str:
    """Where one of the envelope's documents is cached for downloads, as DocuSign served it
    once ``signatures`` signers had signed (DocuSign serves a document as it stands: unsigned
    when sent, with each signature once it is made, so each count is a version of its own)."""
    return (
        f"documents/{safe_token(tenant_id)}/{safe_token(envelope_id)}/original/"
        f"{safe_token(document_id, 40)}/{signatures}-signed.pdf"
    )


# S3's smallest multipart part is 5 MiB; 8 MiB parts keep a 50 MB PDF to 7 requests and
# the memory held to one part.
PART_SIZE = 8 * 1024 * 1024

# A mail part of this size or less is kept with the message's other small parts in one
# pack object (a byte range of it, served by the API's part links): a mail of 200 small
# attachments is one PutObject, not 200 (make bench). Larger parts have an object each.
PACKED_PART_BYTES = 256 * 1024
# A pack is stored once the next part would take it past this.
PACK_BYTES = 8 * 1024 * 1024


def mail_parts_prefix(tenant_id: str, message_key: str) -> str:
    return f"mail/{safe_token(tenant_id)}/{message_key}/parts/"


def pack_key(tenant_id: str, message_key: str, number: int) -> str:
    """The message's ``number``-th pack of small parts."""
    return f"{mail_parts_prefix(tenant_id, message_key)}pack-{number:03d}"


_PACK_KEY = re.compile(r"^mail/[A-Za-z0-9._-]+/[^/]+/parts/pack-[0-9]{3,}$")


def is_pack_key(key: str) -> bool:
    return _PACK_KEY.match(key) is not None


def document_key(tenant_id: str, envelope_id: str, document: ConnectDocument) -> str:
    return (
        f"documents/{safe_token(tenant_id)}/{safe_token(envelope_id)}/connect/"
        f"{safe_token(document.document_id, 40)}.pdf"
    )


@dataclass(frozen=True, slots=True)
class ArchivedObject:
    key: str
    body: bytes
    content_type: str
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    sha256: str
    size: int


class Archive:
    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self._bucket = bucket
        self._client = client

    @property
    def client(self) -> S3Client:
        return self._client or clients.s3()

    def put(
        self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        """Store ``body`` with its SHA-256 checked by S3 on arrival."""
        return self._put(key, body, content_type, metadata, hashlib.sha256(body).digest())

    def _put(
        self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None, digest: bytes
    ) -> StoredObject:
        self.client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumSHA256=base64.b64encode(digest).decode("ascii"),
            Metadata={name: _ascii(value) for name, value in (metadata or {}).items()},
        )
        return StoredObject(key=key, sha256=digest.hex(), size=len(body))

    def read_stream(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """The object's bytes in chunks, never whole in memory."""
        body = self.client.get_object(Bucket=self._bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def tag(self, key: str, tags: dict[str, str]) -> None:
        """Replace the object's tags (how a refused message carries its reason in S3)."""
        self.client.put_object_tagging(
            Bucket=self._bucket,
            Key=key,
            Tagging={"TagSet": [{"Key": name, "Value": _tag_value(value)} for name, value in tags.items()]},
        )

    def presigned_get(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """A URL anyone holding it may GET the object with, for ``expires_in`` seconds.

        Signed locally with the function's credentials: no request is made, and the
        function's role must itself be allowed to read the object.
        """
        params: dict[str, str] = {"Bucket": self._bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))

    def tag_if_present(self, key: str, tags: dict[str, str]) -> bool:
        """``tag``, or False when there is no such object (nothing to tag is not a failure)."""
        try:
            self.tag(key, tags)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise
        return True

    def keys(self, prefix: str, *, start_after: str | None = None) -> Iterator[str]:
        """Every key under ``prefix``, in key order (ListObjectsV2, 1,000 a page)."""
        kwargs: dict[str, str] = {"Bucket": self._bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):  # type: ignore[arg-type]
            for entry in page.get("Contents", []):
                yield str(entry["Key"])

    def get(self, key: str, *, max_bytes: int) -> ArchivedObject:
        """One archived object whole (a Connect message: bounded by the webhook's own limit)."""
        answer = self.client.get_object(Bucket=self._bucket, Key=key)
        body = answer["Body"]
        try:
            data = body.read(max_bytes + 1)
        finally:
            body.close()
        if len(data) > max_bytes:
            raise ValueError(f"{key} is over {max_bytes} bytes: not a message the webhook would have taken")
        return ArchivedObject(key, data, str(answer.get("ContentType", "")), dict(answer.get("Metadata", {})))

    def read_range(self, key: str, offset: int, size: int) -> bytes | None:
        """``size`` bytes of the object from ``offset``: one ranged GetObject, or None when
        the object is not there (any more). Fewer bytes than that is an error, not a part."""
        if size == 0:
            return b""
        try:
            answer = self.client.get_object(
                Bucket=self._bucket, Key=key, Range=f"bytes={offset}-{offset + size - 1}"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        body = answer["Body"]
        try:
            data = body.read(size + 1)
        finally:
            body.close()
        if len(data) != size:
            raise ValueError(f"{key} holds {len(data)} bytes from {offset}, not the {size} recorded")
        return data

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return False
            raise
        return True

    def put_stream(
        self, key: str, chunks: Iterable[bytes], content_type: str, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        """Store a stream of unknown length holding at most one part in memory.

        A body that fits one part is a single PutObject; a larger one a multipart upload,
        each part checked by S3 (SHA-256), aborted on any failure so no partial object
        remains. The whole-object SHA-256 is computed on the way through.
        """
        digest = hashlib.sha256()
        size = 0
        # A BytesIO, not a bytearray: its getvalue() hands over the bytes without a copy.
        buffer = io.BytesIO()
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []
        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer.write(chunk)
                while buffer.tell() >= PART_SIZE:
                    if upload_id is None:
                        upload_id = self._start_multipart(key, content_type, metadata)
                    held = buffer.getvalue()
                    buffer = io.BytesIO(held[PART_SIZE:])
                    buffer.seek(0, io.SEEK_END)
                    part = held[:PART_SIZE]
                    del held
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, part))
                    del part
            rest = buffer.getvalue()
            del buffer
            if upload_id is None:
                # The whole body is the one part: its digest is the one taken on the way.
                return self._put(key, rest, content_type, metadata, digest.digest())
            if rest:
                parts.append(self._upload_part(key, upload_id, len(parts) + 1, rest))
            self.client.complete_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            if upload_id is not None:
                self.client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
            raise
        return StoredObject(key=key, sha256=digest.hexdigest(), size=size)

    def _start_multipart(self, key: str, content_type: str, metadata: dict[str, str] | None) -> str:
        answer = self.client.create_multipart_upload(
            Bucket=self._bucket,
            Key=key,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            Metadata={name: _ascii(value) for name, value in (metadata or {}).items()},
        )
        return answer["UploadId"]

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> CompletedPartTypeDef:
        checksum = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        answer = self.client.upload_part(
            Bucket=self._bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumSHA256=checksum,
        )
        return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}


_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9 +\-=._:/@]+")


def _tag_value(value: str) -> str:
    """S3 tag values allow letters, digits, spaces and ``+ - = . _ : / @``, up to 256."""
    return _TAG_UNSAFE.sub("_", value)[:256]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def content_disposition(filename: str) -> str:
    """``attachment`` with the name: printable ASCII for every client, and RFC 6266's UTF-8
    form beside it when the name is not plain ASCII. Never a path (``../../x`` is ``x``),
    never a device name Windows would open instead of saving (``CON`` is ``_CON``)."""
    filename = _CONTROL.sub("_", not_a_device(last_segment(filename).strip(" ."))) or "download"
    plain = _header_safe(filename)
    if plain == filename[:150]:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{urllib.parse.quote(filename[:150], safe='')}"


def _header_safe(name: str) -> str:
    """A file name for a Content-Disposition header: printable ASCII, no quotes or backslashes."""
    return "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)[:150]


def _ascii(value: str) -> str:
    """S3 user metadata travels in HTTP headers: printable ASCII only, bounded."""
    if value.isascii() and value.isprintable():  # nearly always: no walk character by character
        return value[:1024]
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in value)[:1024]
