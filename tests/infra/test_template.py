"""template.yaml: the promises the README makes about the deployment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dealwire.store.table import TTL_ATTRIBUTE
from infra.local.template import Stack, load_template

TEMPLATE = load_template()
STACK = Stack(name="dealwire-test", region="us-east-1", template=TEMPLATE, parameters={"Stage": "test"})


def resource(logical: str) -> dict[str, Any]:
    properties: dict[str, Any] = TEMPLATE["Resources"][logical]["Properties"]
    return properties


def statements(logical: str) -> list[dict[str, Any]]:
    found = []
    for policy in resource(logical).get("Policies", []):
        found.extend(policy.get("Statement", []) if isinstance(policy, dict) else [])
    return found


def test_functions_run_python_313_on_arm64_with_tracing() -> None:
    function = TEMPLATE["Globals"]["Function"]
    assert (function["Runtime"], function["Architectures"], function["Tracing"]) == (
        "python3.13",
        ["arm64"],
        "Active",
    )
    assert function["CodeUri"] == "functions/"


ROOT = Path(__file__).resolve().parents[2]


def test_routes() -> None:
    webhook = [route for route in STACK.http_routes() if route[2] == "WebhookDocusignFunction"]
    assert sorted(webhook) == [
        ("POST", "/webhooks/docusign", "WebhookDocusignFunction", None),
        ("POST", "/webhooks/docusign/{tenantId}", "WebhookDocusignFunction", None),
    ]


API_FUNCTIONS = ("ApiFunction", "IntegrationsFunction")


def test_the_api_routes_are_the_openapi_documents_each_behind_the_jwt_authorizer() -> None:
    """The functions' resolvers write docs/openapi.json; the template must route exactly that."""
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    documented = sorted(
        (method.upper(), path) for path, operations in document["paths"].items() for method in operations
    )
    routed = sorted(
        (method, path) for method, path, function, _ in STACK.http_routes() if function in API_FUNCTIONS
    )
    assert routed == documented
    # Open: what the document says takes no token (a part link's signature is its authorization).
    tokenless = sorted(
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{}]
    )
    assert tokenless == [("GET", "/v1/mail/parts")]
    routes = [(m, p, auth) for m, p, function, auth in STACK.http_routes() if function in API_FUNCTIONS]
    assert sorted((m, p) for m, p, auth in routes if auth is None) == tokenless
    assert {auth for *_, auth in routes if auth is not None} == {"CrmJwt"}


def test_the_integration_routes_go_to_the_integrations_function() -> None:
    routed = {path for _, path, function, _ in STACK.http_routes() if function == "IntegrationsFunction"}
    assert routed == {
        "/v1/integrations/docusign",
        "/v1/integrations/docusign/complete",
        "/v1/integrations/docusign/rotate-key",
    }


def _secret_actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    return {action for action in actions if action.startswith("secretsmanager:")}


def test_only_the_integrations_function_may_write_secrets_and_only_tenants() -> None:
    writers: dict[str, list[tuple[list[str], str]]] = {}
    for logical, r in TEMPLATE["Resources"].items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        for statement in statements(logical):
            written = _secret_actions(statement) - {
                "secretsmanager:GetSecretValue",
                "secretsmanager:ListSecrets",
            }
            if written:
                where = STACK.resolve(statement["Resource"])
                writers.setdefault(logical, []).append((sorted(written), where))
    assert list(writers) == ["IntegrationsFunction"]
    ((actions, resource_arn),) = writers["IntegrationsFunction"]
    assert actions == ["secretsmanager:CreateSecret", "secretsmanager:PutSecretValue"]
    assert resource_arn.endswith(":secret:dealwire/test/tenants/*")


def test_a_key_rotation_event_is_retried_and_kept_when_it_fails() -> None:
    rule = resource("IntegrationsFunction")["Events"]["KeyVerified"]["Properties"]
    assert rule["Pattern"] == {"source": ["dealwire"], "detail-type": ["integration.key_verified"]}
    assert rule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["IntegrationEventFailureQueue", "Arn"]}}
    (allowed,) = resource("IntegrationEventFailureQueuePolicy")["PolicyDocument"]["Statement"]
    assert allowed["Principal"] == {"Service": "events.amazonaws.com"}
    assert STACK.resolve(allowed["Condition"]["ArnLike"]["aws:SourceArn"]).endswith(":rule/dealwire-test/*")
    assert rule["RetryPolicy"]["MaximumRetryAttempts"] > 0
    invoke = resource("IntegrationsFunction")["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert invoke["Destination"] == {"Fn::GetAtt": ["IntegrationEventFailureQueue", "Arn"]}
    alarm = resource("IntegrationEventFailureAlarm")
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["IntegrationEventFailureQueue", "QueueName"]}


def test_every_eventbridge_rule_retries_and_keeps_what_it_cannot_deliver() -> None:
    """A rule's target that stays throttled or missing past the retries goes to a dead-letter
    queue EventBridge may write to, never nowhere."""
    rules = [
        (logical, name, event["Properties"])
        for logical, function in STACK.resources("AWS::Serverless::Function").items()
        for name, event in function["Properties"].get("Events", {}).items()
        if event["Type"] == "EventBridgeRule"
    ]
    assert len(rules) >= 3
    policies = {
        STACK.resolve(queue): document["PolicyDocument"]["Statement"]
        for document in (resource(logical) for logical in STACK.resources("AWS::SQS::QueuePolicy"))
        for queue in document["Queues"]
    }
    for logical, name, rule in rules:
        where = f"{logical}.{name}"
        assert rule["RetryPolicy"]["MaximumRetryAttempts"] > 0, where
        queue = rule["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        allowed = [
            statement
            for statement in policies.get(STACK.resolve({"Ref": queue}), [])
            if statement["Principal"] == {"Service": "events.amazonaws.com"}
            and statement["Action"] == "sqs:SendMessage"
        ]
        assert allowed, f"{where}: EventBridge may not write to its dead-letter queue {queue}"


def test_the_crm_api_requires_the_jwt_authorizer_and_the_webhook_is_open_to_hmac() -> None:
    for function in API_FUNCTIONS:
        routes = [e for e in resource(function)["Events"].values() if e["Type"] == "HttpApi"]
        guarded = [event for event in routes if event["Properties"]["Path"] != "/v1/mail/parts"]
        assert {event["Properties"]["Auth"]["Authorizer"] for event in guarded} == {"CrmJwt"}
    assert "Auth" not in resource("ApiFunction")["Events"]["GetMailPart"]["Properties"]
    webhook_events = resource("WebhookDocusignFunction")["Events"].values()
    assert all("Auth" not in event["Properties"] for event in webhook_events)
    assert "DefaultAuthorizer" not in resource("HttpApi")["Auth"]


def test_ses_stores_the_raw_message_before_the_function_runs() -> None:
    rule = TEMPLATE["Resources"]["MailReceiptRule"]
    actions = rule["Properties"]["Rule"]["Actions"]
    assert [next(iter(action)) for action in actions] == ["S3Action", "LambdaAction"]
    assert (
        actions[0]["S3Action"]["ObjectKeyPrefix"]
        == STACK.function_environment("MailIngestFunction")["DEALWIRE_MAIL_RAW_PREFIX"]
    )
    assert actions[1]["LambdaAction"]["InvocationType"] == "Event"
    assert rule["Properties"]["Rule"]["ScanEnabled"] is True


def test_failed_mail_and_crm_events_end_in_alarmed_queues() -> None:
    for function, queue in (
        ("MailIngestFunction", "MailFailureQueue"),
        ("CrmProjectionFunction", "CrmEventFailureQueue"),
    ):
        config = resource(function)["EventInvokeConfig"]
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert {"MailFailureQueue", "CrmEventFailureQueue"} <= alarmed_queues()


def alarmed_queues() -> set[str]:
    """The queues an alarm watches (alarms on a function's own metrics name no queue)."""
    found = set()
    for r in TEMPLATE["Resources"].values():
        if r["Type"] != "AWS::CloudWatch::Alarm":
            continue
        value = r["Properties"]["Dimensions"][0]["Value"]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
    return found


def test_the_webhook_may_only_write_state_put_archives_and_read_tenant_secrets() -> None:
    actions = sorted(str(s["Action"]) for s in statements("WebhookDocusignFunction"))
    assert actions == ["dynamodb:UpdateItem", "s3:PutObject", "secretsmanager:GetSecretValue"]
    secrets = next(
        s for s in statements("WebhookDocusignFunction") if s["Action"] == "secretsmanager:GetSecretValue"
    )
    assert STACK.resolve(secrets["Resource"]).endswith(":secret:dealwire/test/tenants/*")


def test_table_is_on_demand_recoverable_with_ttl_and_a_stream() -> None:
    table = resource("DealwireTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"by_deal", "in_flight"}


def test_documents_bucket_is_private_encrypted_versioned_and_tls_only() -> None:
    bucket = resource("DocumentsBucket")
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (deny,) = resource("DocumentsBucketPolicy")["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_follow_up_work_has_a_dead_letter_queue_with_an_alarm() -> None:
    redrive = resource("DocumentJobQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DocumentJobDeadLetterQueue", "Arn"]}
    alarm = resource("DocumentJobDeadLetterAlarm")
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["DocumentJobDeadLetterQueue", "QueueName"]}


def test_the_stream_consumer_reports_partial_failures_and_keeps_what_fails() -> None:
    ((function, table, properties),) = STACK.stream_mappings()
    assert (function, table) == ("StreamPublisherFunction", "DealwireTable")
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    assert properties["BisectBatchOnFunctionError"] is True


def test_function_environments_resolve_to_the_stacks_names() -> None:
    env = STACK.function_environment("WebhookDocusignFunction")
    assert env["DEALWIRE_TABLE_NAME"] == "dealwire-test-DealwireTable"
    assert env["DEALWIRE_TENANT_SECRET_PREFIX"] == "dealwire/test/tenants/"
    assert env["POWERTOOLS_SERVICE_NAME"] == "webhook_docusign"
    publisher = STACK.function_environment("StreamPublisherFunction")
    assert publisher["DEALWIRE_DOCUMENT_QUEUE_URL"].endswith("/dealwire-test-DocumentJobQueue")


def test_the_committed_openapi_document_is_the_api_functions() -> None:
    from infra.local.api_docs import OPENAPI, generate, render

    assert OPENAPI.read_text() == render(generate()), "docs/openapi.json is out of date: run `make openapi`"


def test_the_poller_runs_on_a_schedule_one_cycle_per_tenant_and_what_fails_is_kept_and_alarmed() -> None:
    (schedule,) = resource("StatusPollScheduleFunction")["Events"].values()
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "StatusPollSchedule"}
    assert TEMPLATE["Parameters"]["StatusPollSchedule"]["Default"] == "rate(15 minutes)"
    assert schedule["Properties"]["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": ["StatusPollDeadLetterQueue", "Arn"]}
    }
    ((_, queue, properties),) = [m for m in STACK.queue_mappings() if m[0] == "StatusPollFunction"]
    assert (queue, properties["BatchSize"], properties["FunctionResponseTypes"]) == (
        "StatusPollQueue",
        1,
        ["ReportBatchItemFailures"],
    )
    redrive = resource("StatusPollQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["StatusPollDeadLetterQueue", "Arn"]}
    # SQS's advice: the queue hides a message six times as long as the function may take.
    assert resource("StatusPollQueue")["VisibilityTimeout"] >= 6 * resource("StatusPollFunction")["Timeout"]
    assert "StatusPollDeadLetterQueue" in alarmed_queues()
    alarm = resource("PolledOnlyChangesAlarm")
    assert (alarm["MetricName"], alarm["Threshold"]) == (
        "ChangesSeenOnlyByPolling",
        {"Ref": "PolledOnlyChangesAlarmThreshold"},
    )
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "status_poll"}]
    assert STACK.function_environment("StatusPollFunction")["POWERTOOLS_SERVICE_NAME"] == "status_poll"
