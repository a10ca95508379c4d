"""AWS clients, built on first use and reused across warm invocations.

All of them come from one boto3 session: a session's loader keeps the endpoint rules
and service list it has read, so the second and third client of a cold start do not
read and parse them again (about a third of the webhook's first event, make bench).
Only the clients an event uses are built. boto3 reads ``AWS_ENDPOINT_URL`` itself,
which is how the local stack points every client at moto server without a line of
code here.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

# Short timeouts: a webhook must answer DocuSign well inside its 100 s, and a retry by
# the caller (Connect, SQS, the stream) is cheaper than a Lambda stuck on a socket.
_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "max_attempts": 3},
)


# botocore validates every parameter on the client before sending: for a transaction of
# an envelope and its recipients that walk is over half of the webhook's own CPU per event
# (make bench). The unit tests validate the webhook's request shapes against botocore's
# model (tests/unit/test_store_requests.py), the integration tests run every store with
# validation on, and DynamoDB validates again on arrival; so the client skips the walk.
_UNVALIDATED = _CONFIG.merge(Config(parameter_validation=False))


# A session is not safe to build clients from on two threads at once (boto3's docs);
# the clients it builds are.
_BUILDING = threading.Lock()
_built: dict[str, Any] = {}


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


def _build(service: str, config: Config) -> Any:  # noqa: ANN401 - typed by the wrappers below
    return _session().client(service, config=config)  # type: ignore[call-overload]


def _client(service: str, config: Config = _CONFIG) -> Any:  # noqa: ANN401 - typed by the wrappers below
    """The service's one client, built on first use (once, whatever the number of threads)."""
    client = _built.get(service)
    if client is None:
        with _BUILDING:
            client = _built.get(service)
            if client is None:
                client = _built[service] = _build(service, config)
    return client


def built() -> int:
    """How many clients exist so far (none is built at import)."""
    return len(_built)


def dynamodb() -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb", _UNVALIDATED)
    return client


def s3() -> S3Client:
    client: S3Client = _client("s3")
    return client


def secretsmanager() -> SecretsManagerClient:
    client: SecretsManagerClient = _client("secretsmanager")
    return client


def events() -> EventBridgeClient:
    client: EventBridgeClient = _client("events")
    return client


def sqs() -> SQSClient:
    client: SQSClient = _client("sqs")
    return client


def reset() -> None:
    """Forget every client and the session (tests start a new moto backend per test)."""
    with _BUILDING:
        _built.clear()
        _session.cache_clear()
