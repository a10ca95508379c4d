"""The EventBridge bus dealwire publishes to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dealwire.store import clients

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_events import EventBridgeClient

    from dealwire.domain.publications import Publication

PUT_EVENTS_LIMIT = 10


class PublishFailed(RuntimeError):
    """EventBridge refused some entries; the stream record is retried."""


class EventBus:
    def __init__(self, bus_name: str, source: str, client: EventBridgeClient | None = None) -> None:
        self._bus = bus_name
        self._source = source
        self._client = client

    @property
    def client(self) -> EventBridgeClient:
        return self._client or clients.events()

    def publish(self, publications: Sequence[Publication]) -> int:
        """Put every publication; raise if any entry failed. Returns the request count."""
        requests = 0
        for start in range(0, len(publications), PUT_EVENTS_LIMIT):
            chunk = publications[start : start + PUT_EVENTS_LIMIT]
            answer = self.client.put_events(
                Entries=[
                    {
                        "EventBusName": self._bus,
                        "Source": self._source,
                        "DetailType": publication.detail_type,
                        "Detail": publication.detail.model_dump_json(by_alias=True),
                    }
                    for publication in chunk
                ]
            )
            requests += 1
            if answer.get("FailedEntryCount", 0):
                errors = {
                    entry.get("ErrorCode") for entry in answer.get("Entries", []) if entry.get("ErrorCode")
                }
                raise PublishFailed(
                    f"{answer['FailedEntryCount']} event(s) refused: {sorted(map(str, errors))}"
                )
        return requests
