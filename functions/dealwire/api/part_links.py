"""Links to a mail part kept in a pack: signed by the API, short-lived, answered by the API.

Small parts of a message share one S3 object (``mail.ingest.store_parts``), and a presigned
S3 URL cannot name a byte range, so the thread's answer links such a part to the API's own
``GET /v1/mail/parts``: the link carries where the part is (the pack's key, the offset, the
size), how to serve it (its type and name) and until when, signed with HMAC-SHA256 under a
key only the API reads (a Secrets Manager secret the stack generates). Like a presigned URL
it needs no token, so a CRM hands it to a browser as it is; anything changed in it, or the
link used after it expires, is refused with a 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from dealwire.api.errors import Forbidden
from dealwire.store.archive import is_pack_key
from dealwire.store.tenants import fetch_secret

if TYPE_CHECKING:
    from collections.abc import Callable

LINK_PATH: Final = "/v1/mail/parts"
_VERSION: Final = "v1"
# The generated key is 64 characters; a shorter one is a misconfigured secret.
MIN_KEY_CHARS: Final = 32


@dataclass(frozen=True, slots=True)
class PartLink:
    key: str
    offset: int
    size: int
    content_type: str
    filename: str | None
    expires: int  # Unix seconds

    def _signed_text(self) -> bytes:
        # JSON: no field's content can be taken for a separator.
        fields = [
            _VERSION,
            self.key,
            self.offset,
            self.size,
            self.content_type,
            self.filename or "",
            self.expires,
        ]
        return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class PartLinks:
    """Signs and checks part links; ``key`` gives the current signing key (cached by its reader)."""

    def __init__(self, key: Callable[[], str]) -> None:
        self._key = key

    def url(self, base: str, link: PartLink) -> str:
        query = {
            "key": link.key,
            "offset": str(link.offset),
            "size": str(link.size),
            "type": link.content_type,
            "expires": str(link.expires),
            "signature": self._signature(link),
        }
        if link.filename:
            query["name"] = link.filename
        return f"{base.rstrip('/')}{LINK_PATH}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"

    def verify(self, link: PartLink, signature: str, now: float) -> PartLink:
        """The link as signed; ``Forbidden`` when it is not one the API made, or is out of date."""
        if not hmac.compare_digest(
            signature.encode("ascii", "replace"), self._signature(link).encode("ascii")
        ):
            raise Forbidden(
                "the link's signature does not match it: ask the thread for a new link", code="bad_link"
            )
        if now >= link.expires:
            raise Forbidden("the link has expired: ask the thread for a new one", code="link_expired")
        # Only a pack of a message's parts is ever linked to, whatever a key in a link says.
        if not is_pack_key(link.key):
            raise Forbidden("the link does not name a mail part", code="bad_link")
        return link

    def _signature(self, link: PartLink) -> str:
        key = self._key()
        if len(key) < MIN_KEY_CHARS:
            raise RuntimeError(
                f"the part link key is under {MIN_KEY_CHARS} characters: the secret is misconfigured"
            )
        mac = hmac.new(key.encode("utf-8"), link._signed_text(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def secret_key(secret_name: str, max_age: int) -> Callable[[], str]:
    """The signing key as kept in ``secret_name``, read at most once per ``max_age`` seconds."""

    def read() -> str:
        value = fetch_secret(secret_name, max_age)
        if value is None:
            raise RuntimeError(f"the part link secret {secret_name} does not exist")
        return value

    return read
