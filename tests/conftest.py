"""Process-wide test environment: the functions' settings come from template.yaml.

Set before any function module is imported (their settings are validated at import, as
at a Lambda cold start); credentials are fake and no endpoint is set, so a client that
escaped moto could reach nothing.
"""

from __future__ import annotations

import os

import pytest

from infra.local.offline import go_offline
from infra.local.template import Stack, load_template

STACK_NAME = "dealwire-test"
REGION = "us-east-1"
TEST_STACK = Stack(
    name=STACK_NAME,
    region=REGION,
    template=load_template(),
    parameters={"Stage": "test", "MailDomain": "bcc.dealwire.test"},
)

go_offline()
os.environ.update(
    {"AWS_DEFAULT_REGION": REGION, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_DEV": "false"}
)
os.environ.pop("AWS_ENDPOINT_URL", None)
for _function in (
    "WebhookDocusignFunction",
    "StreamPublisherFunction",
    "DocumentFetchFunction",
    "MailIngestFunction",
    "CrmProjectionFunction",
    "ApiFunction",
    "IntegrationsFunction",
    "StageTriggerFunction",
    "StatusPollFunction",
    "ConnectReplayFunction",
):
    os.environ.update(TEST_STACK.function_environment(_function))
os.environ["POWERTOOLS_SERVICE_NAME"] = "dealwire-tests"

# Every log record is searched for the secrets the suite plants; these hooks fail the test
# during which one leaked.
from tests.log_secrets import (  # noqa: E402 - after the environment the functions read
    install,
    pytest_runtest_call,
    pytest_runtest_setup,
    pytest_runtest_teardown,
)

__all__ = ["pytest_runtest_call", "pytest_runtest_setup", "pytest_runtest_teardown"]


def pytest_configure(config: pytest.Config) -> None:
    install()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With ``-n`` (pytest-xdist, as ``make test`` runs all but e2e): a test file stays on one
    worker, so its module-scoped moto stack is built once."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(item.path.as_posix()))
