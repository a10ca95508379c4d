"""Create a stack's tables, buckets, queues and buses in moto from template.yaml."""

from __future__ import annotations

import json
import secrets
import string
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from infra.local.template import Stack

# Resource types that have no behaviour to emulate locally (IAM, alarms, the API itself,
# which the gateway stands in for), listed so an unknown new type is noticed.
NOT_EMULATED = frozenset(
    {
        "AWS::Serverless::Function",
        "AWS::Serverless::HttpApi",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::Permission",
        # SES receiving is played by the local SMTP edge (infra/local/smtp.py).
        "AWS::SES::ReceiptRule",
        # Alarms are not emulated, so neither is the topic they notify; the gateway stands in for
        # the HTTP API and writes its own access log.
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::Logs::LogGroup",
        # Only with a customer-managed key (KmsKeyArn), which the local stack has not.
        "AWS::IAM::ManagedPolicy",
    }
)


def _client(service: str, region: str, endpoint_url: str | None) -> Any:  # noqa: ANN401
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)  # type: ignore[call-overload]


def create_resources(stack: Stack, endpoint_url: str | None = None) -> dict[str, str]:
    """Create every emulated resource; return the DynamoDB stream ARN of each table."""
    unknown = (
        {r["Type"] for r in stack.resources().values()}
        - NOT_EMULATED
        - {
            "AWS::DynamoDB::Table",
            "AWS::S3::Bucket",
            "AWS::SQS::Queue",
            "AWS::Events::EventBus",
            "AWS::SecretsManager::Secret",
        }
    )
    if unknown:
        raise NotImplementedError(f"the local stack cannot emulate {sorted(unknown)}")
    streams = {}
    for logical, resource in stack.resources("AWS::DynamoDB::Table").items():
        streams[logical] = _create_table(stack, logical, resource["Properties"], endpoint_url)
    for logical, resource in stack.resources("AWS::S3::Bucket").items():
        _create_bucket(stack, logical, resource.get("Properties", {}), endpoint_url)
    _create_queues(stack, endpoint_url)
    events = _client("events", stack.region, endpoint_url)
    for logical in stack.resources("AWS::Events::EventBus"):
        events.create_event_bus(Name=stack.physical_name(logical))
    create_secrets(stack, endpoint_url)
    return streams


def create_secrets(stack: Stack, endpoint_url: str | None = None) -> None:
    """The secrets the template generates, each with a value as CloudFormation would make it."""
    client = _client("secretsmanager", stack.region, endpoint_url)
    for logical, resource in stack.resources("AWS::SecretsManager::Secret").items():
        generate = resource["Properties"].get("GenerateSecretString", {})
        if set(generate) - {"PasswordLength", "ExcludePunctuation"}:
            raise NotImplementedError(f"{logical}: only a plain generated string is emulated")
        alphabet = string.ascii_letters + string.digits
        if not generate.get("ExcludePunctuation", False):
            alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
        value = "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))
        client.create_secret(Name=stack.physical_name(logical), SecretString=value)


def _create_table(stack: Stack, logical: str, properties: dict[str, Any], endpoint_url: str | None) -> str:
    dynamodb = _client("dynamodb", stack.region, endpoint_url)
    name = stack.physical_name(logical)
    arguments: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in properties:
        arguments["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    stream = properties.get("StreamSpecification")
    if stream:
        arguments["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    description = dynamodb.create_table(**arguments)["TableDescription"]
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    pitr = properties.get("PointInTimeRecoverySpecification")
    if pitr:
        dynamodb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=pitr)
    return str(description.get("LatestStreamArn", ""))


def _create_bucket(stack: Stack, logical: str, properties: dict[str, Any], endpoint_url: str | None) -> None:
    s3 = _client("s3", stack.region, endpoint_url)
    properties = stack.resolve(properties)
    name = stack.physical_name(logical)
    if stack.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": stack.region})
    if "VersioningConfiguration" in properties:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"])
    if "BucketEncryption" in properties:
        # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
        rules = [
            {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
            for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
        )


def _create_queues(stack: Stack, endpoint_url: str | None) -> None:
    sqs = _client("sqs", stack.region, endpoint_url)
    queues = stack.resources("AWS::SQS::Queue")
    # Dead-letter queues first: a redrive policy names an existing queue.
    for logical, resource in queues.items():
        properties = stack.resolve(resource.get("Properties", {}))
        attributes = {
            key: str(properties[key]).lower() if isinstance(properties[key], bool) else str(properties[key])
            for key in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "SqsManagedSseEnabled",
                "KmsMasterKeyId",
            )
            if key in properties
        }
        sqs.create_queue(QueueName=stack.physical_name(logical), Attributes=attributes)
    for logical, resource in queues.items():
        redrive = resource.get("Properties", {}).get("RedrivePolicy")
        if redrive:
            url = sqs.get_queue_url(QueueName=stack.physical_name(logical))["QueueUrl"]
            policy = stack.resolve(redrive)
            policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)})


def seed_tenant(
    stack: Stack,
    tenant_id: str,
    *,
    account_id: str,
    hmac_keys: list[str],
    time_zone: str = "UTC",
    docusign_user_id: str | None = None,
    endpoint_url: str | None = None,
    function: str = "WebhookDocusignFunction",
) -> str:
    """Store a tenant's DocuSign secret where the webhook looks for it; return its name."""
    prefix = stack.function_environment(function)["DEALWIRE_TENANT_SECRET_PREFIX"]
    name = prefix + tenant_id
    document: dict[str, Any] = {"docusignAccountId": account_id, "hmacKeys": hmac_keys, "timeZone": time_zone}
    if docusign_user_id:
        document["docusignUserId"] = docusign_user_id
    secret = json.dumps(document)
    client = _client("secretsmanager", stack.region, endpoint_url)
    try:
        client.create_secret(Name=name, SecretString=secret)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=secret)
    return name


def create_table(stack: Stack, logical: str, endpoint_url: str | None = None) -> str:
    """Create one of the template's tables (the tests recreate it to start from an empty stream)."""
    properties = stack.resources("AWS::DynamoDB::Table")[logical]["Properties"]
    return _create_table(stack, logical, properties, endpoint_url)


def create_queues(stack: Stack, endpoint_url: str | None = None) -> None:
    """Create the template's queues, dead-letter queues first (the tests recreate them to empty them)."""
    _create_queues(stack, endpoint_url)
