"""The job queue: follow-up work (document downloads, envelope refreshes) for later issues' workers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dealwire.store import clients

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from pydantic import BaseModel


class JobQueue:
    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self._url = queue_url
        self._client = client

    @property
    def client(self) -> SQSClient:
        return self._client or clients.sqs()

    def send(self, job: BaseModel) -> None:
        kind = str(getattr(job, "kind", "job"))
        self.client.send_message(
            QueueUrl=self._url,
            MessageBody=job.model_dump_json(by_alias=True),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
        )
