"""The account's Connect HMAC keys (``connect/secret``): every active key signs every signed callback.

DocuSign documents these calls but not their answers' bodies; the shapes here are the
simulator's (see the README). Not locked: call under the account lock.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.docusign_sim.errors import SimError
from infra.docusign_sim.model import rest_time

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

# Active keys per account: two, as the simulator's spec gives DocuSign's limit (one key in use,
# one being rolled in, as a tenant's secret holds them); ``maxHmacKeys`` raises it up to the
# signature headers Connect can send.
MAX_KEYS = 2
MAX_SIGNATURES = 100  # X-DocuSign-Signature-1 .. -100
_SHOWN = 4  # characters of a key the list shows before "****"


@dataclass(frozen=True, slots=True)
class HmacKey:
    key_id: str
    secret: str
    created: datetime

    def as_json(self, *, full: bool) -> dict[str, Any]:
        return {
            "keyId": self.key_id,
            "secret": self.secret if full else self.secret[:_SHOWN] + "****",
            "createdDateTime": rest_time(self.created),
        }


def new_secret() -> str:
    """Like DocuSign's keys: 32 random bytes in base64, 44 characters ending in "="."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class HmacKeys:
    """The keys in the order they were created, which is the order of the signature headers."""

    def __init__(self) -> None:
        self._keys: list[HmacKey] = []

    def create(self, now: datetime, limit: int = MAX_KEYS) -> HmacKey:
        """``POST connect/secret``: a new key, unless the account has ``limit`` already."""
        if len(self._keys) >= limit:
            raise SimError(
                400,
                "CONNECT_SECRET_LIMIT_EXCEEDED",
                f"The account already has the maximum of {limit} Connect HMAC keys. Delete one first.",
            )
        key = HmacKey(str(uuid.uuid4()), new_secret(), now)
        self._keys.append(key)
        return key

    def replace(self, given: Iterable[str], now: datetime) -> None:
        """Make ``given`` the account's keys (the start-up settings and ``/_sim/config``, which
        check their count)."""
        self._keys = [HmacKey(str(uuid.uuid4()), secret, now) for secret in given if secret]

    def delete(self, key_id: str) -> None:
        """By keyId; or, as DocuSign's reference describes keyId, by one-based position in the list."""
        position = int(key_id) - 1 if key_id.isdigit() else -1
        for index, key in enumerate(self._keys):
            if key.key_id == key_id or index == position:
                del self._keys[index]
                return
        raise SimError(
            404, "CONNECT_SECRET_NOT_FOUND", f"The Connect HMAC key specified does not exist: {key_id}."
        )

    def active(self) -> tuple[str, ...]:
        return tuple(key.secret for key in self._keys)

    def listing(self, *, full: bool = False) -> list[dict[str, Any]]:
        return [key.as_json(full=full) for key in self._keys]

    def __len__(self) -> int:
        return len(self._keys)
