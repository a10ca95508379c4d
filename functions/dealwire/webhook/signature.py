"""DocuSign Connect HMAC: base64(HMAC-SHA256(key as UTF-8, raw body)) per active key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_SIGNATURE_HEADER = re.compile(r"^x-docusign-signature-(\d+)$", re.IGNORECASE)
# DocuSign's keys are 32 random bytes in base64: 44 characters ending in "=".
_KEY_LENGTH = 44


def sign(body: bytes, key: str) -> str:
    """The value DocuSign puts in ``X-DocuSign-Signature-N`` for ``key``."""
    digest = hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_headers(headers: Mapping[str, str]) -> list[str]:
    """Every ``X-DocuSign-Signature-N`` value, whatever the header name's case."""
    found = [
        (int(match[1]), value.strip())
        for name, value in headers.items()
        if (match := _SIGNATURE_HEADER.match(name)) and value
    ]
    return [value for _, value in sorted(found)]


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    problem: str = ""
    # Positions (in the keys given) of every key that matched a signature.
    matched: frozenset[int] = frozenset()
    # How many keys DocuSign signed with: more than were given means a key is missing.
    signatures: int = 0

    def signed_with_more_keys(self, keys: Sequence[str]) -> bool:
        return self.signatures > len(keys)


def verify(body: bytes, headers: Mapping[str, str], keys: Sequence[str]) -> Verdict:
    """Accept when any signature header matches any key, compared in constant time.

    No key configured refuses everything. A failure says why in terms an operator can
    act on, naming keys only by position, never by value.
    """
    if not keys:
        return Verdict(False, "no HMAC key is configured for this tenant: every callback is refused")
    signatures = signature_headers(headers)
    if not signatures:
        return Verdict(
            False, "no X-DocuSign-Signature-N header: is HMAC enabled in the Connect configuration?"
        )
    expected = [sign(body, key).encode("ascii") for key in keys]
    given = [signature.encode("ascii", "replace") for signature in signatures]
    # Every key against every signature, so the time taken does not depend on which one
    # matches; and a rotation learns whether its new key is among those that did.
    matched = frozenset(
        position
        for position, candidate in enumerate(expected)
        if any([hmac.compare_digest(signature, candidate) for signature in given])  # noqa: C419
    )
    if matched:
        return Verdict(True, matched=matched, signatures=len(signatures))
    return Verdict(False, _diagnose(body, signatures, keys), signatures=len(signatures))


def _diagnose(body: bytes, signatures: Sequence[str], keys: Sequence[str]) -> str:
    hints = []
    for position, key in enumerate(keys, start=1):
        stripped = key.strip()
        if stripped != key:
            hints.append(f"key {position} has leading or trailing whitespace")
        if len(stripped) < _KEY_LENGTH and not stripped.endswith("="):
            padded = stripped + "=" * (-len(stripped) % 4)
            if any(hmac.compare_digest(sign(body, padded), s) for s in signatures):
                hints.append(
                    f"key {position} matches only with its trailing '=' restored: "
                    "it was lost when the key was pasted; store it again, '=' included"
                )
            else:
                hints.append(
                    f"key {position} is {len(stripped)} characters without a trailing '=': "
                    "DocuSign keys are 44 characters ending in '=', check it was pasted whole"
                )
    detail = "; ".join(hints) if hints else "the key may have been rotated or the body altered"
    return (
        f"no signature matched any of {len(keys)} configured key(s) ({len(signatures)} header(s)): {detail}"
    )
