"""Sent to completed through the simulator, and the signed PDF and certificate land in S3.

DocuSign (the simulator) → Connect callbacks → webhook → table stream → stream_publisher
→ job queue → document_fetch → S3 and the envelope item, all under moto.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from dealwire.contracts.events import FetchDocumentsJob, RefreshEnvelopeJob
from dealwire.envelope_jobs import EnvelopeJobs
from dealwire.settings import document_fetch_settings
from dealwire.store.archive import Archive
from dealwire.store.budget import BudgetStore
from dealwire.store.envelopes import EnvelopeStore
from dealwire.store.tenants import TenantDirectory
from infra.docusign_sim import SimulatorControl
from infra.local.resources import seed_tenant
from tests.docusign_support import USER_ID, put_app_secret
from tests.integration.helpers import bucket, read_object, simulated_access, table
from tests.integration.test_stream_publisher import drain, stream_event
from tests.support import ACCOUNT_ID, HMAC_KEY, TENANT_ID, FakeContext

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.docusign_sim import Simulator
    from infra.local.template import Stack
    from tests.infra.test_docusign_sim import Api


@pytest.fixture
def document_fetch(
    aws: Stack, sim: Simulator, private_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> Any:
    from document_fetch import app

    env = aws.function_environment("DocumentFetchFunction")
    put_app_secret(env["DEALWIRE_DOCUSIGN_APP_SECRET"], private_key)
    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY], docusign_user_id=USER_ID)
    # The deployment points this at DocuSign; here at the simulator. Calls go in the budget.
    access = simulated_access(document_fetch_settings(), sim.url, "documents")
    jobs = EnvelopeJobs(
        tenants=TenantDirectory(env["DEALWIRE_TENANT_SECRET_PREFIX"], 0),
        archive=Archive(bucket(aws)),
        envelopes=EnvelopeStore(table(aws)),
        docusign=access.for_tenant,
    )
    monkeypatch.setattr(app, "envelope_jobs", lambda: jobs)
    monkeypatch.setattr(app, "docusign_access", lambda: access)
    return app


def sqs_event(stack: Stack, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    arn = stack.get_att("DocumentJobQueue", "Arn")
    return {
        "Records": [
            {
                "messageId": f"m-{index}",
                "receiptHandle": f"r-{index}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": stack.region,
            }
            for index, body in enumerate(bodies)
        ]
    }


def signed_and_queued(aws: Stack, sim: Simulator, api: Api) -> tuple[str, list[dict[str, Any]]]:
    """An envelope sent and signed by both recipients in DocuSign, and the jobs the stream queued."""
    from stream_publisher import app as publisher

    control = SimulatorControl(sim.url)
    envelope_id = api.create()
    for recipient in ("1", "2"):
        control.sign(envelope_id, recipient)
    publisher.lambda_handler(stream_event(aws), FakeContext(function_name="stream_publisher"))
    jobs = [job for job in drain(aws.ref("DocumentJobQueue")) if job["kind"] == "fetch_documents"]
    return envelope_id, jobs


def test_a_completed_envelope_has_its_signed_pdf_and_certificate_in_s3(
    aws: Stack, sim: Simulator, api: Api, document_fetch: Any
) -> None:
    from stream_publisher import app as publisher

    control = SimulatorControl(sim.url)
    envelope_id, jobs = signed_and_queued(aws, sim, api)
    assert [job["envelopeId"] for job in jobs] == [envelope_id]

    answer = document_fetch.lambda_handler(sqs_event(aws, jobs), FakeContext(function_name="document_fetch"))
    assert answer == {"batchItemFailures": []}
    recorded = EnvelopeStore(table(aws)).signed_documents(TENANT_ID, envelope_id)
    assert set(recorded) == {"combined", "certificate"}
    served = {
        "combined": sim.document_bytes(envelope_id, "combined", certificate=False),
        "certificate": sim.document_bytes(envelope_id, "certificate"),
    }
    for name, document in recorded.items():
        body, head = read_object(aws, document["key"])
        assert body == served[name]  # byte-identical to what DocuSign served
        assert head["ContentType"] == "application/pdf"
    downloads = {(d["envelopeId"], d["documentId"]) for d in control.downloads()}
    assert downloads == {(envelope_id, "combined"), (envelope_id, "certificate")}
    # The two downloads are in the account's hourly budget, with what DocuSign said is left.
    budget = BudgetStore(table(aws)).current(TENANT_ID)
    assert budget.calls == 2
    assert budget.remaining == int(control.config()["rateLimit"]) - len(
        [r for r in control.requests() if "/restapi/" in r["path"]]
    )

    # A redelivered job finds the documents and downloads nothing.
    again = document_fetch.lambda_handler(sqs_event(aws, jobs), FakeContext(function_name="document_fetch"))
    assert again == {"batchItemFailures": []}
    assert len(control.downloads()) == 2

    # The envelope pointing at its documents publishes envelope.documents_stored.
    bus = aws.physical_name("EventBus")
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    tap = sqs.create_queue(QueueName="tap-documents")["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="tap-documents", EventBusName=bus, EventPattern=json.dumps({"source": ["dealwire"]}))
    events.put_targets(Rule="tap-documents", EventBusName=bus, Targets=[{"Id": "t", "Arn": tap_arn}])
    publisher.lambda_handler(stream_event(aws), FakeContext(function_name="stream_publisher"))
    stored = [e for e in drain(tap) if e["detail-type"] == "envelope.documents_stored"]
    assert len(stored) == 1
    assert {d["documentId"] for d in stored[0]["detail"]["documents"]} == {"combined", "certificate"}


def test_a_failing_job_is_reported_for_redelivery_and_the_others_finish(
    aws: Stack, api: Api, document_fetch: Any
) -> None:
    envelope_id = api.create()
    refresh = RefreshEnvelopeJob(
        job_id="r", tenant_id=TENANT_ID, account_id=ACCOUNT_ID, envelope_id=envelope_id
    )
    missing = FetchDocumentsJob(
        job_id="j",
        tenant_id=TENANT_ID,
        account_id=ACCOUNT_ID,
        envelope_id="no-such-envelope",
        completed_at="t",
    )
    bodies = [json.loads(job.model_dump_json(by_alias=True)) for job in (missing, refresh)]
    answer = document_fetch.lambda_handler(
        sqs_event(aws, bodies), FakeContext(function_name="document_fetch")
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    view = EnvelopeStore(table(aws)).tracker(TENANT_ID, envelope_id)
    assert view is not None  # the refresh recorded the envelope from the API
    assert view.envelope["status"] == "sent"


def test_a_batch_that_fails_whole_is_retried_whole(aws: Stack, sim: Simulator, document_fetch: Any) -> None:
    SimulatorControl(sim.url).set_consent(granted=False)
    job = FetchDocumentsJob(
        job_id="j", tenant_id=TENANT_ID, account_id=ACCOUNT_ID, envelope_id="e", completed_at="t"
    )
    with pytest.raises(BatchProcessingError):
        document_fetch.lambda_handler(
            sqs_event(aws, [json.loads(job.model_dump_json(by_alias=True))]),
            FakeContext(function_name="document_fetch"),
        )


def test_an_s3_failure_loses_nothing_and_leaves_no_duplicate(
    aws: Stack, sim: Simulator, api: Api, document_fetch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dealwire.store import clients

    envelope_id, jobs = signed_and_queued(aws, sim, api)
    event = sqs_event(aws, jobs)

    s3 = clients.s3()
    real_put = s3.put_object
    calls = {"n": 0}

    def flaky_put(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the certificate's put, after the combined PDF was stored
            raise RuntimeError("S3 is having a moment")
        return real_put(**kwargs)

    monkeypatch.setattr(s3, "put_object", flaky_put)
    with pytest.raises(BatchProcessingError):
        document_fetch.lambda_handler(event, FakeContext(function_name="document_fetch"))
    assert EnvelopeStore(table(aws)).signed_documents(TENANT_ID, envelope_id) == {}  # nothing half-recorded
    monkeypatch.setattr(s3, "put_object", real_put)
    assert document_fetch.lambda_handler(event, FakeContext(function_name="document_fetch")) == {
        "batchItemFailures": []
    }  # SQS redelivered it
    recorded = EnvelopeStore(table(aws)).signed_documents(TENANT_ID, envelope_id)
    assert set(recorded) == {"combined", "certificate"}
    listing = boto3.client("s3").list_objects_v2(
        Bucket=bucket(aws), Prefix=f"documents/{TENANT_ID}/{envelope_id}/"
    )
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in listing["Contents"]) == [
        "certificate.pdf",
        "combined.pdf",
    ]


def test_a_job_that_keeps_failing_reaches_the_dead_letter_queue_only_after_its_retries(
    aws: Stack, sim: Simulator, document_fetch: Any
) -> None:
    SimulatorControl(sim.url).set_consent(granted=False)  # every attempt fails
    sqs = boto3.client("sqs")
    queue, dead = aws.ref("DocumentJobQueue"), aws.ref("DocumentJobDeadLetterQueue")
    job = FetchDocumentsJob(
        job_id="j", tenant_id=TENANT_ID, account_id=ACCOUNT_ID, envelope_id="e", completed_at="t"
    )
    sqs.send_message(QueueUrl=queue, MessageBody=job.model_dump_json(by_alias=True))
    max_receives = int(aws.parameter("DocumentJobMaxReceives"))
    attempts = 0
    while True:
        # What Lambda's event source does: receive, invoke, delete only what succeeded.
        received = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0, AttributeNames=["All"])
        messages = received.get("Messages", [])
        if not messages:
            break
        attempts += 1
        body = json.loads(messages[0]["Body"])
        with pytest.raises(BatchProcessingError):
            document_fetch.lambda_handler(sqs_event(aws, [body]), FakeContext(function_name="document_fetch"))
        assert attempts <= max_receives
    assert attempts == max_receives
    moved = sqs.receive_message(QueueUrl=dead).get("Messages", [])
    assert [json.loads(m["Body"])["jobId"] for m in moved] == ["j"]  # kept, not lost
