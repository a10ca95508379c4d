"""Lambda's SQS event source mapping, locally: receive from moto's queue, invoke, delete what succeeded."""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra.local.worker import ACCOUNT_ID, InvocationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from infra.local.streams import Invoker
    from infra.local.template import Stack

log = logging.getLogger("dealwire.local.queues")

POLL_SECONDS = 0.2
# Lambda leaves a failed message invisible for the queue's visibility timeout (15 min for
# the job queue); locally it comes back after a few seconds so retries can be watched.
RETRY_VISIBILITY_SECONDS = 2


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as Lambda hands it to a function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def eventbridge_event(body: str, account: str = ACCOUNT_ID) -> dict[str, Any]:
    """An event from a rule's SQS target as EventBridge hands it to a Lambda target.

    moto's SQS target leaves out ``account`` (moto 5.2.5), which EventBridge always sends
    and Powertools' ``EventBridgeModel`` requires; it is put back.
    """
    event: dict[str, Any] = json.loads(body)
    event.setdefault("version", "0")
    event.setdefault("account", account)
    return event


class QueuePoller:
    def __init__(
        self,
        *,
        function: str,
        worker: Invoker,
        queue_url: str,
        queue_arn: str,
        batch_size: int,
        region: str,
        endpoint_url: str,
        stop: threading.Event,
        one_event_per_message: bool = False,
    ) -> None:
        self.function = function
        # An EventBridge rule's SQS target carries the event itself: invoke with it, as
        # EventBridge invokes a Lambda target, one event at a time.
        self._unwrap = one_event_per_message
        self._worker = worker
        self.queue_url = queue_url
        self._queue_arn = queue_arn
        self._batch_size = 1 if one_event_per_message else max(1, min(batch_size, 10))
        self._region = region
        self._sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint_url)
        self._stop = stop
        self._thread = threading.Thread(target=self._run, name=f"sqs-{function}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self._poll_once()
            except (BotoCoreError, ClientError):
                if self._stop.is_set():
                    return
                log.exception("polling %s failed; retrying", self.queue_url)
                delivered = False
            if not delivered:
                self._stop.wait(POLL_SECONDS)

    def _poll_once(self) -> bool:
        answer = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self._batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return False
        if self._unwrap:
            event = eventbridge_event(messages[0]["Body"])
        else:
            event = {"Records": [lambda_record(m, self._queue_arn, self._region) for m in messages]}
        try:
            response = self._worker.invoke(event)
            failed = {
                str(item.get("itemIdentifier"))
                for item in (response or {}).get("batchItemFailures", [])
                if isinstance(item, dict)
            }
        except InvocationError as exc:
            log.error("%s failed on a batch of %d: %s", self.function, len(messages), exc)
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed:
                # Back on the queue soon; past maxReceiveCount moto's redrive moves it to the DLQ.
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=RETRY_VISIBILITY_SECONDS,
                )
            else:
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return True


def start_queue_pollers(
    stack: Stack, workers: dict[str, Invoker], endpoint_url: str, stop: threading.Event
) -> list[QueuePoller]:
    """One poller per SQS event in the template, started."""
    pollers = []
    sqs = boto3.client("sqs", region_name=stack.region, endpoint_url=endpoint_url)
    for function, queue, properties in stack.queue_mappings():
        url = sqs.get_queue_url(QueueName=stack.physical_name(queue))["QueueUrl"]
        poller = QueuePoller(
            function=function,
            worker=workers[function],
            queue_url=url,
            queue_arn=stack.get_att(queue, "Arn"),
            batch_size=int(stack.resolve(properties.get("BatchSize", 10))),
            region=stack.region,
            endpoint_url=endpoint_url,
            stop=stop,
        )
        poller.start()
        pollers.append(poller)
    return pollers


def start_rule_routes(
    stack: Stack, workers: dict[str, Invoker], endpoint_url: str, bus_name: str, stop: threading.Event
) -> list[QueuePoller]:
    """Each EventBridgeRule event of the template as a rule on the bus with a queue target, polled.

    EventBridge itself (moto) matches the template's pattern; the queue stands in for
    Lambda's asynchronous invocation, retrying a failed event after a pause.
    """
    sqs = boto3.client("sqs", region_name=stack.region, endpoint_url=endpoint_url)
    events = boto3.client("events", region_name=stack.region, endpoint_url=endpoint_url)
    pollers = []
    for logical, resource in stack.resources("AWS::Serverless::Function").items():
        for name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] != "EventBridgeRule":
                continue
            rule = f"{stack.name}-{logical}-{name}"[:64]
            url = str(sqs.create_queue(QueueName=rule)["QueueUrl"])
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            pattern = stack.resolve(event["Properties"]["Pattern"])
            events.put_rule(Name=rule, EventBusName=bus_name, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=rule, EventBusName=bus_name, Targets=[{"Id": "function", "Arn": arn}])
            poller = QueuePoller(
                function=logical,
                worker=workers[logical],
                queue_url=url,
                queue_arn=arn,
                batch_size=1,
                region=stack.region,
                endpoint_url=endpoint_url,
                stop=stop,
                one_event_per_message=True,
            )
            poller.start()
            pollers.append(poller)
    return pollers
