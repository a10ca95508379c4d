"""template.yaml: the promises the README makes about the deployment."""

from __future__ import annotations

import fnmatch
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


def alarms() -> dict[str, dict[str, Any]]:
    return {logical: r["Properties"] for logical, r in STACK.resources("AWS::CloudWatch::Alarm").items()}


def watched(alarm: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(namespace, metric, dimension value) of each metric an alarm reads, math or not."""
    if "Metrics" not in alarm:
        return [(alarm["Namespace"], alarm["MetricName"], d["Value"]) for d in alarm.get("Dimensions", [])]
    found = []
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            found.extend(
                (metric["Namespace"], metric["MetricName"], d["Value"]) for d in metric["Dimensions"]
            )
    return found


def alarmed_queues() -> set[str]:
    """The queues an alarm watches (alarms on a function's own metrics name no queue)."""
    return {
        value["Fn::GetAtt"][0]
        for alarm in alarms().values()
        for namespace, _, value in watched(alarm)
        if namespace == "AWS/SQS"
    }


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


def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears() -> None:
    """The topic the stack creates by default, or the operator's (AlarmTopicArn) instead."""
    on_call = "arn:aws:sns:us-east-1:123456789012:on-call"
    given = Stack(STACK.name, STACK.region, TEMPLATE, {"Stage": "test", "AlarmTopicArn": on_call})
    assert len(alarms()) >= 20
    for logical, alarm in alarms().items():
        for actions in ("AlarmActions", "OKActions"):
            assert STACK.resolve(alarm[actions]) == [
                "arn:aws:sns:us-east-1:123456789012:dealwire-test-alarms"
            ], (logical, actions)
            assert given.resolve(alarm[actions]) == [on_call], (logical, actions)
    assert "AlarmTopic" in STACK.resources("AWS::SNS::Topic")
    assert not given.resources("AWS::SNS::Topic")
    assert not STACK.resources("AWS::SNS::Subscription"), "no address given, none subscribed"
    mailed = Stack(STACK.name, STACK.region, TEMPLATE, {"Stage": "test", "AlarmEmail": "ops@example.com"})
    (subscription,) = mailed.resources("AWS::SNS::Subscription").values()
    assert mailed.resolve(subscription["Properties"])["Endpoint"] == "ops@example.com"


def test_every_function_alarms_on_its_errors_and_throttles() -> None:
    functions = set(STACK.resources("AWS::Serverless::Function"))
    covered: dict[str, set[str]] = {}
    for alarm in alarms().values():
        for namespace, metric, value in watched(alarm):
            if namespace == "AWS/Lambda" and metric in {"Errors", "Throttles"}:
                covered.setdefault(value["Ref"], set()).add(metric)
        if "Metrics" in alarm:
            (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
            assert expression == "errors + throttles"
    assert covered == {function: {"Errors", "Throttles"} for function in functions}


def test_the_stream_every_queue_and_the_api_are_alarmed() -> None:
    watches = {
        (namespace, metric, str(value)) for a in alarms().values() for namespace, metric, value in watched(a)
    }
    assert ("AWS/Lambda", "IteratorAge", str({"Ref": "StreamPublisherFunction"})) in watches
    assert ("AWS/ApiGateway", "5xx", str({"Ref": "HttpApi"})) in watches
    # A work queue alarms on its oldest message; a failure queue on its first.
    for queue in STACK.resources("AWS::SQS::Queue"):
        metrics = {
            metric for namespace, metric, value in watches if namespace == "AWS/SQS" and queue in value
        }
        expected = (
            "ApproximateAgeOfOldestMessage"
            if queue in {"DocumentJobQueue", "StatusPollQueue"}
            else ("ApproximateNumberOfMessagesVisible")
        )
        assert metrics == {expected}, queue
    assert ("dealwire", "ChangesSeenOnlyByPolling", "status_poll") in watches


def test_ses_requires_tls_and_only_dealwires_rule_may_invoke_the_function_or_write_raw_mail() -> None:
    mail = Stack(
        STACK.name,
        STACK.region,
        TEMPLATE,
        {"Stage": "test", "MailDomain": "bcc.example", "MailReceiptRuleSetName": "x"},
    )
    assert not STACK.resources("AWS::Lambda::Permission"), "no rule set given: SES invokes nothing"
    rule = mail.resolve(mail.resources("AWS::SES::ReceiptRule")["MailReceiptRule"]["Properties"])
    assert rule["Rule"]["TlsPolicy"] == "Require"
    rule_arn = f"arn:aws:ses:us-east-1:123456789012:receipt-rule-set/x:receipt-rule/{rule['Rule']['Name']}"
    permission = mail.resolve(
        mail.resources("AWS::Lambda::Permission")["MailIngestSesPermission"]["Properties"]
    )
    assert (permission["Principal"], permission["SourceArn"]) == ("ses.amazonaws.com", rule_arn)
    statements = mail.resolve(resource("MailBucketPolicy"))["PolicyDocument"]["Statement"]
    (ses,) = [s for s in statements if s.get("Principal") == {"Service": "ses.amazonaws.com"}]
    assert ses["Condition"]["StringEquals"]["aws:SourceArn"] == rule_arn
    assert ses["Resource"].endswith("/inbound/*")


def test_raw_mail_is_versioned_and_mail_ingest_cannot_write_or_delete_it() -> None:
    bucket = resource("MailBucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (old_versions,) = [
        r for r in bucket["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" in r
    ]
    assert old_versions["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 30
    raw = f"arn:aws:s3:::{STACK.physical_name('MailBucket')}/inbound/some-message-id"
    for statement in statements("MailIngestFunction"):
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = STACK.resolve(statement["Resource"])
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(raw, pattern) for pattern in resources):
            assert set(actions) == {"s3:GetObject", "s3:PutObjectTagging"}, statement["Sid"]


def test_mail_ingest_names_the_bucket_that_notifies_it_without_a_reference_back() -> None:
    """A !Ref to MailBucket from the function or its role would close a dependency circle
    (bucket -> notification permission -> function -> role -> bucket) CloudFormation refuses."""
    properties = dict(resource("MailIngestFunction"))
    properties.pop("Events")
    assert "MailBucket" not in json.dumps(properties)
    env = STACK.function_environment("MailIngestFunction")
    assert (
        env["DEALWIRE_MAIL_BUCKET"]
        == STACK.physical_name("MailBucket")
        == "dealwire-test-mail-123456789012-us-east-1"
    )
    assert STACK.function_environment("ApiFunction")["DEALWIRE_MAIL_BUCKET"] == env["DEALWIRE_MAIL_BUCKET"]


KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_a_customer_managed_key_encrypts_everything_at_rest_and_by_default_aws_keys_do() -> None:
    keyed = Stack(STACK.name, STACK.region, TEMPLATE, {"Stage": "test", "KmsKeyArn": KEY})
    for stack, bucket_sse, queue_sse in (
        (STACK, "AES256", {"SqsManagedSseEnabled": True}),
        (keyed, "aws:kms", {"KmsMasterKeyId": KEY}),
    ):
        for logical in stack.resources("AWS::S3::Bucket"):
            (rule,) = stack.resolve(resource(logical))["BucketEncryption"][
                "ServerSideEncryptionConfiguration"
            ]
            assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == bucket_sse, logical
        for logical in stack.resources("AWS::SQS::Queue"):
            properties = stack.resolve(resource(logical))
            assert {
                k: properties[k] for k in ("SqsManagedSseEnabled", "KmsMasterKeyId") if k in properties
            } == (queue_sse), logical
    assert keyed.resolve(resource("DealwireTable"))["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": KEY,
    }
    assert STACK.resolve(resource("DealwireTable"))["SSESpecification"] == {"SSEEnabled": True}
    for logical, kind, key in (
        ("PartLinkKey", "AWS::SecretsManager::Secret", "KmsKeyId"),
        ("AlarmTopic", "AWS::SNS::Topic", "KmsMasterKeyId"),
        ("ApiAccessLogs", "AWS::Logs::LogGroup", "KmsKeyId"),
    ):
        assert TEMPLATE["Resources"][logical]["Type"] == kind
        assert keyed.resolve(resource(logical))[key] == KEY
        assert key not in STACK.resolve(resource(logical))
    assert keyed.resolve(TEMPLATE["Globals"]["Function"])["KmsKeyArn"] == KEY
    assert keyed.function_environment("IntegrationsFunction")["DEALWIRE_SECRETS_KMS_KEY_ID"] == KEY
    assert STACK.function_environment("IntegrationsFunction")["DEALWIRE_SECRETS_KMS_KEY_ID"] == ""
    (use,) = keyed.resources("AWS::IAM::ManagedPolicy").values()
    roles = {role["Ref"] for role in use["Properties"]["Roles"]}
    schedule_role = "StatusPollScheduleFunctionEveryRole"  # SAM's, for the schedule's dead letters
    assert roles == {f"{function}Role" for function in STACK.resources("AWS::Serverless::Function")} | {
        schedule_role
    }
    assert not STACK.resources("AWS::IAM::ManagedPolicy")


def test_the_api_access_log_names_routes_not_query_strings() -> None:
    """A part link carries its signature in the query string: it must not be in the log."""
    settings = resource("HttpApi")["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    fields = json.loads(settings["Format"])
    assert fields["route"] == "$context.routeKey"
    assert not [
        value for value in fields.values() if "path" in value.lower() or "querystring" in value.lower()
    ]
