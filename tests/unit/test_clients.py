"""dealwire.store.clients: one session for every client, each client built once."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3.session
import pytest

from dealwire.store import clients

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[boto3.session.Session]]:
    made: list[boto3.session.Session] = []
    original = boto3.session.Session.__init__

    def counted(self: boto3.session.Session, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(boto3.session.Session, "__init__", counted)
    clients.reset()
    yield made
    clients.reset()


def test_every_client_comes_from_one_session(sessions: list[boto3.session.Session]) -> None:
    built = [clients.dynamodb(), clients.s3(), clients.secretsmanager(), clients.events(), clients.sqs()]
    assert len(sessions) == 1
    assert clients.dynamodb() is built[0]  # built once, reused across invocations
    # The session's loader read the endpoint rules once for all of them.
    assert len({id(client._loader) for client in built}) == 1


def test_clients_built_on_many_threads_at_once_are_built_once_each(
    sessions: list[boto3.session.Session],
) -> None:
    got: list[Any] = []
    start = threading.Barrier(8)

    def build() -> None:
        start.wait()
        got.append((clients.s3(), clients.dynamodb()))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sessions) == 1
    assert len(got) == 8
    assert len(set(got)) == 1  # every thread got the same two clients


def test_reset_starts_a_new_session(sessions: list[boto3.session.Session]) -> None:
    first = clients.s3()
    clients.reset()
    assert clients.s3() is not first
    assert len(sessions) == 2
