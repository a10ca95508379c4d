"""moto in-process, with the resources of template.yaml and the default tenant seeded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import moto
import pytest

from dealwire.store import clients, tenants
from infra.local.resources import create_resources, seed_tenant
from tests.conftest import TEST_STACK
from tests.support import ACCOUNT_ID, HMAC_KEY, TENANT_ID

if TYPE_CHECKING:
    from collections.abc import Iterator

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
