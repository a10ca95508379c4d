"""Connect callbacks lost on purpose: Connect turned off for the account or some envelopes, and a
seeded share dropped as if the listener were down past DocuSign's retries."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

CONNECT_OFF_ACCOUNT = "connect off for the account (control API): the callback was not sent"
CONNECT_OFF_ENVELOPE = "connect off for this envelope (control API): the callback was not sent"
DROPPED = "dropped (dropCallbacks): lost as if the listener were down past DocuSign's retries"
# What the failure log says of a listener that is down (.NET's words for a refused connection).
DROPPED_FAILURE = "Unable to connect to the remote server"


class ConnectSwitch:
    """Connect off for the whole account, or for some envelopes: their changes publish nothing, as
    if no configuration published (DocuSign never tries, so nothing is in the failure log). Not
    locked: call it under the account lock."""

    def __init__(self) -> None:
        self.account_off = False
        self._envelopes: set[str] = set()

    def off(self, envelope_ids: Iterable[str] | None = None) -> None:
        """Off for the account (``None``) or for these envelopes."""
        if envelope_ids is None:
            self.account_off = True
        else:
            self._envelopes.update(envelope_ids)

    def on(self, envelope_ids: Iterable[str] | None = None) -> None:
        """On for the account (``None``: every envelope's off goes too) or for these envelopes
        (the account's off, if any, still holds)."""
        if envelope_ids is None:
            self.account_off = False
            self._envelopes.clear()
        else:
            self._envelopes.difference_update(envelope_ids)

    def why_off(self, envelope_id: str) -> str | None:
        """Why ``envelope_id``'s callbacks are not sent, or ``None`` when Connect is on for it."""
        if self.account_off:
            return CONNECT_OFF_ACCOUNT
        return CONNECT_OFF_ENVELOPE if envelope_id in self._envelopes else None

    def view(self) -> dict[str, Any]:
        """What ``GET /_sim/config`` shows."""
        return {"connectOff": self.account_off, "connectOffEnvelopes": sorted(self._envelopes)}


class CallbackDrops:
    """Which callbacks ``dropCallbacks`` loses: one draw per callback built for a configuration, in
    the order they are built, from ``random.Random(dropSeed)``, so a test is repeatable. Not
    locked: call it under the account lock."""

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)  # noqa: S311 - a repeatable test fixture, not a secret

    def reseed(self, seed: int) -> None:
        self._random.seed(seed)

    def draw(self, share: float) -> bool:
        """``True``: lose this one. With ``share`` 0 nothing is drawn, so the sequence is not moved."""
        return share > 0 and self._random.random() < share
