"""moto in-process with template.yaml's resources, built once per module and emptied per test.

Building the stack costs far more than emptying it; every test still starts from the same
state: an empty table (recreated, so its stream starts empty too), empty buckets and
queues, and only the default tenant's secret. The functions' cached factories, clients and
the secrets cache are dropped, as a new Lambda container would have them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import boto3
import httpx
import moto  # imported before any client exists, as moto asks
import pytest

from dealwire.store import clients, tenants
from infra.local import moto_dynamodb
from infra.local.gateway import Gateway
from infra.local.resources import create_queues, create_resources, create_secrets, create_table, seed_tenant
from tests.conftest import TEST_STACK
from tests.docusign_support import new_private_key, simulator
from tests.infra.test_docusign_sim import Api
from tests.support import ACCOUNT_ID, HMAC_KEY, TENANT_ID, FakeContext

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.docusign_sim import Simulator
    from infra.local.template import Stack

HANDLER_MODULES = (
    "webhook_docusign.app",
    "stream_publisher.app",
    "document_fetch.app",
    "mail_ingest.app",
    "crm_projection.app",
    "api.app",
    "integrations.app",
    "stage_trigger.app",
    "status_poll.app",
    "connect_replay.app",
)


def forget_containers() -> None:
    """What a cold start would not have: built clients, cached secrets, the functions' factories."""
    clients.reset()
    tenants.reset()
    for name in HANDLER_MODULES:
        module = sys.modules.get(name)
        for value in vars(module).values() if module else ():
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", "") == name:
                value.cache_clear()


def empty(stack: Stack) -> None:
    """Every resource of ``stack`` as it was just after it was created."""
    dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    for logical in stack.resources("AWS::DynamoDB::Table"):
        dynamodb.delete_table(TableName=stack.physical_name(logical))
        create_table(stack, logical)
    for logical in stack.resources("AWS::S3::Bucket"):
        bucket = stack.physical_name(logical)
        listing = s3.list_object_versions(Bucket=bucket)
        doomed = [
            {"Key": entry["Key"], "VersionId": entry["VersionId"]}
            for entry in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
        ]
        for start in range(0, len(doomed), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000]})
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    # Rules a test added (a tap on the bus) go first: their targets are about to go.
    events = boto3.client("events")
    for logical in stack.resources("AWS::Events::EventBus"):
        bus = stack.physical_name(logical)
        for rule in events.list_rules(EventBusName=bus).get("Rules", []):
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus).get("Targets", [])
            if targets:
                events.remove_targets(Rule=rule["Name"], EventBusName=bus, Ids=[t["Id"] for t in targets])
            events.delete_rule(Name=rule["Name"], EventBusName=bus)
    # Recreated rather than purged: SQS allows one purge a minute per queue.
    sqs = boto3.client("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        sqs.delete_queue(QueueUrl=url)
    create_queues(stack)
    secrets = boto3.client("secretsmanager")
    for secret in secrets.list_secrets().get("SecretList", []):
        secrets.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
    create_secrets(stack)


@pytest.fixture(scope="session", autouse=True)
def _moto_as_make_run_has_it() -> Iterator[None]:
    """moto with `make run`'s patches: a transaction backs up only its own items, not the
    whole table once per item (which makes a 1,000-recipient envelope take minutes)."""
    moto_dynamodb.install()
    yield
    moto_dynamodb.uninstall()


@pytest.fixture(scope="session", autouse=True)
def _dynamodb_requests_validated() -> Iterator[None]:
    """The functions' DynamoDB client skips botocore's parameter validation (store/clients.py);
    here it validates, so every request any store builds is held to botocore's model."""
    skipping = clients._UNVALIDATED
    clients._UNVALIDATED = clients._CONFIG
    clients.reset()
    yield
    clients._UNVALIDATED = skipping
    clients.reset()


@pytest.fixture(scope="module")
def aws_stack() -> Iterator[Stack]:
    with moto.mock_aws():
        forget_containers()
        create_resources(TEST_STACK)
        yield TEST_STACK
        forget_containers()


@pytest.fixture
def aws(aws_stack: Stack) -> Iterator[Stack]:
    empty(aws_stack)
    forget_containers()
    seed_tenant(aws_stack, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY])
    yield aws_stack
    forget_containers()


class InProcess:
    """The webhook function as the gateway's worker, in this process (so under moto)."""

    def invoke(self, event: dict[str, Any]) -> Any:
        from webhook_docusign import app

        return app.lambda_handler(event, FakeContext())


@pytest.fixture
def gateway(aws: Stack) -> Iterator[Gateway]:
    served = Gateway(aws.http_routes(), {"WebhookDocusignFunction": InProcess()}, 0)
    served.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return new_private_key()


@pytest.fixture
def sim(gateway: Gateway, private_key: rsa.RSAPrivateKey) -> Iterator[Simulator]:
    with simulator(
        private_key, webhook_url=f"{gateway.url}/webhooks/docusign", hmac_keys=[HMAC_KEY]
    ) as started:
        yield started


@pytest.fixture
def api(sim: Simulator, private_key: rsa.RSAPrivateKey) -> Iterator[Api]:
    with httpx.Client(trust_env=False, timeout=10) as http:
        yield Api(http, sim, private_key)
