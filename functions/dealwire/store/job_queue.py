"""A queue of work for a worker function: document jobs and refreshes, the poller's cycle requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dealwire.store import clients

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_sqs import SQSClient
    from pydantic import BaseModel


# SendMessageBatch's most entries.
BATCH_LIMIT = 10


class QueueRefused(RuntimeError):
    """SQS took some messages of a batch and not others; the caller's retry sends them again."""


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

    def send_all(self, jobs: Sequence[BaseModel]) -> int:
        """Queue every job, ten a request (SendMessageBatch); raises if any was not taken."""
        for start in range(0, len(jobs), BATCH_LIMIT):
            batch = jobs[start : start + BATCH_LIMIT]
            answer = self.client.send_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {
                        "Id": str(index),
                        "MessageBody": job.model_dump_json(by_alias=True),
                        "MessageAttributes": {
                            "kind": {"DataType": "String", "StringValue": str(getattr(job, "kind", "job"))}
                        },
                    }
                    for index, job in enumerate(batch)
                ],
            )
            failed = answer.get("Failed") or []
            if failed:
                first = failed[0]
                why = f"{first.get('Code')} {first.get('Message')}"
                raise QueueRefused(f"{len(failed)} of {len(batch)} messages were not queued: {why}")
        return len(jobs)
