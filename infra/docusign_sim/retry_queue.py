"""DocuSign's Connect retry queue (``connect/envelopes[/{envelopeId}]/retry_queue``): what a request
asks to republish, and the ConnectFailureResults it answers.

DocuSign documents neither the values of ``status`` nor ``statusMessage``; these are the simulator's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from infra.docusign_sim.errors import SimError

if TYPE_CHECKING:
    from infra.docusign_sim.connect import Outbound

# Sent: the listener answered 2xx. Failed: it did not (or the callback was dropped). Queued: the
# callback thread delivers it later (asyncCallbacks). NotPublished: nothing went (Connect off, no
# configuration publishes the event, or the envelope has announced nothing yet).
RepublishStatus = Literal["Sent", "Failed", "Queued", "NotPublished"]
NO_EVENT = "nothing to publish: the envelope has announced no event yet (a draft)"


def not_subscribed(event: str) -> str:
    return f"no Connect configuration that publishes subscribes to {event}, the envelope's last event"


def requested(body: object) -> tuple[list[str], bool]:
    """A connectFailureFilter ``{"envelopeIds": [...], "synchronous"}``: the envelopes, each once, and
    whether to deliver before answering (the simulator does anyway unless ``asyncCallbacks``)."""
    given = body if isinstance(body, dict) else {}
    ids = given.get("envelopeIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i.strip() for i in ids):
        raise SimError(
            400,
            "INVALID_REQUEST_PARAMETER",
            "The request contained at least one invalid parameter. envelopeIds must list the envelopes "
            "to republish.",
        )
    synchronous = str(given.get("synchronous", "false")).strip().lower() == "true"
    return list(dict.fromkeys(i.strip() for i in ids)), synchronous


def results(envelope_id: str, messages: list[Outbound], reason: str | None) -> list[dict[str, Any]]:
    """The envelope's ConnectFailureResult entries: one per configuration it was published to, or one
    saying why nothing was (``reason``, or the messages' own: Connect off, no configuration)."""
    sent = [m for m in messages if m.not_sent is None]
    if reason is not None or not sent:
        why = reason or (messages[0].not_sent if messages else None) or "nothing was published"
        return [_result(envelope_id, "NotPublished", why)]
    return [
        _result(envelope_id, status, note) | {"configId": message.connect_id, "configUrl": message.url}
        for message in sent
        for status, note in (_status(message),)
    ]


def _status(message: Outbound) -> tuple[RepublishStatus, str]:
    if message.outcome is None:
        return "Queued", "queued: the callback thread delivers it (asyncCallbacks)"
    if message.outcome == "delivered":
        return "Sent", "the listener answered 2xx"
    return "Failed", message.failure or "the listener did not take it"


def _result(envelope_id: str, status: RepublishStatus, message: str) -> dict[str, Any]:
    return {"envelopeId": envelope_id, "status": status, "statusMessage": message}
