"""The documents bucket: raw Connect messages as received, and documents Connect carried."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dealwire.domain.timestamps import compact
from dealwire.store import clients

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from dealwire.domain.connect import ConnectDocument

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


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


def rejected_key(tenant_id: str, received: str, digest: str, ext: str) -> str:
    return f"connect-rejected/{safe_token(tenant_id)}/{received[:10]}/{compact(received)}_{digest[:16]}.{ext}"


def document_key(tenant_id: str, envelope_id: str, document: ConnectDocument) -> str:
    return (
        f"documents/{safe_token(tenant_id)}/{safe_token(envelope_id)}/connect/"
        f"{safe_token(document.document_id, 40)}.pdf"
    )


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
        digest = hashlib.sha256(body).digest()
        self.client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumSHA256=base64.b64encode(digest).decode("ascii"),
            Metadata={name: _ascii(value) for name, value in (metadata or {}).items()},
        )
        return StoredObject(key=key, sha256=digest.hex(), size=len(body))


def _ascii(value: str) -> str:
    """S3 user metadata travels in HTTP headers: printable ASCII only, bounded."""
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in value)[:1024]
