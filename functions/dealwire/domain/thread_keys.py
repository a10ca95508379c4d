"""Which thread a message belongs to: its references first, then subject and participants."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

# Reply and forward prefixes as mail clients write them across languages, with counters
# ("RE[2]:", "Re(3):") and the full-width colon (U+FF1A): Re, Fwd, Fw, AW/WG (de), SV/VS/VB (nordic),
# TR (fr), RV/RE (es), R/I/RIF (it), ANTW/Doorst (nl), ODP/PD (pl), Odp, YNT (tr), Ref, Enc/Res (pt).
_PREFIX = re.compile(
    r"^\s*(?:\[[^\]]{0,40}\]\s*)?"
    r"(?:re|fwd?|aw|wg|sv|vs|vb|vl|tr|rv|r|i|rif|antw|doorst|odp|pd|ynt|ref|enc|res|fs|trs|πρθ|απ)"
    r"\s*(?:\[\d{1,4}\]|\(\d{1,4}\))?\s*[:\uff1a]\s*",
    re.IGNORECASE,
)
# Outlook's "[EXTERNAL]" style tags and mailing-list tags in front of a subject.
_TAG = re.compile(r"^\s*\[[^\]]{0,40}\]\s*")
_SPACE = re.compile(r"\s+")
MAX_REFERENCES = 20


def normalized_subject(subject: str | None) -> str:
    """The subject without reply/forward prefixes and tags, case- and space-folded."""
    text = unicodedata.normalize("NFKC", subject or "")
    for _ in range(20):  # bounded: a subject of a thousand "Re:" must not loop long
        stripped = _PREFIX.sub("", text, count=1)
        stripped = _TAG.sub("", stripped, count=1) if stripped == text else stripped
        if stripped == text:
            break
        text = stripped
    return _SPACE.sub(" ", text).strip().casefold()


def message_key(tenant_id: str, message_id: str | None, content_sha256: str) -> str:
    """The identity a message is stored under: its Message-ID, else its bytes."""
    seed = f"mid|{message_id}" if message_id else f"sha|{content_sha256}"
    return hashlib.sha256(f"{tenant_id}|{seed}".encode()).hexdigest()[:32]


def reference_keys(tenant_id: str, in_reply_to: Iterable[str], references: Iterable[str]) -> list[str]:
    """Keys of the messages this one answers, nearest first, bounded."""
    ordered = list(dict.fromkeys([*in_reply_to, *reversed(list(references))]))
    return [message_key(tenant_id, mid, "") for mid in ordered[:MAX_REFERENCES]]


def subject_key(tenant_id: str, subject: str | None, participants: Iterable[str]) -> str | None:
    """The fallback thread key for clients that drop References; None for an empty subject."""
    normalized = normalized_subject(subject)
    if not normalized:
        return None
    people = ",".join(sorted({address.lower() for address in participants}))
    return hashlib.sha256(f"{tenant_id}|{normalized}|{people}".encode()).hexdigest()[:32]
