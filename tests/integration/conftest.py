"""moto in-process with template.yaml's resources; the DocuSign simulator calling the webhook."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import moto  # imported before any client exists, as moto asks
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dealwire.store import clients, tenants
from infra.docusign_sim import Simulator
from infra.local.gateway import Gateway
from infra.local.resources import create_resources, seed_tenant
from tests.conftest import TEST_STACK
from tests.infra.test_docusign_sim import INTEGRATION_KEY, USER_ID, Api
from tests.support import ACCOUNT_ID, HMAC_KEY, TENANT_ID, FakeContext

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from infra.local.template import Stack


@pytest.fixture
def aws() -> Iterator[Stack]:
    with moto.mock_aws():
        clients.reset()
        tenants.reset()
        create_resources(TEST_STACK)
        seed_tenant(TEST_STACK, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY])
        yield TEST_STACK
        clients.reset()
        tenants.reset()


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
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def sim(gateway: Gateway, private_key: rsa.RSAPrivateKey) -> Iterator[Simulator]:
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with Simulator(
        account_id=ACCOUNT_ID,
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
        public_key_pem=public,
        webhook_url=f"{gateway.url}/webhooks/docusign",
        hmac_keys=[HMAC_KEY],
    ) as simulator:
        yield simulator


@pytest.fixture
def api(sim: Simulator, private_key: rsa.RSAPrivateKey) -> Iterator[Api]:
    with httpx.Client(trust_env=False, timeout=10) as http:
        yield Api(http, sim, private_key)
