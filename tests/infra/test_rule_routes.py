"""The local stack's EventBridge rule routes hand functions events as EventBridge does."""

from __future__ import annotations

import json

import boto3
import moto
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from infra.local.queues import eventbridge_event
from infra.local.worker import ACCOUNT_ID


def test_an_event_through_a_rules_queue_target_is_an_eventbridge_event() -> None:
    with moto.mock_aws():
        sqs, events = boto3.client("sqs"), boto3.client("events")
        events.create_event_bus(Name="bus")
        url = sqs.create_queue(QueueName="rule")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="r", EventBusName="bus", EventPattern=json.dumps({"source": ["dealwire"]}))
        events.put_targets(Rule="r", EventBusName="bus", Targets=[{"Id": "t", "Arn": arn}])
        events.put_events(
            Entries=[
                {
                    "Source": "dealwire",
                    "DetailType": "integration.key_verified",
                    "Detail": json.dumps({"tenantId": "t1"}),
                    "EventBusName": "bus",
                }
            ]
        )
        (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    event = EventBridgeModel.model_validate(eventbridge_event(message["Body"]))
    assert (event.account, event.detail_type, event.detail) == (
        ACCOUNT_ID,
        "integration.key_verified",
        {"tenantId": "t1"},
    )
