"""AWS in-process: canned HTTP answers at botocore's `before-send`, and no socket allowed."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import zlib
from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3.session
from botocore.awsrequest import AWSResponse

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from botocore.awsrequest import AWSPreparedRequest

JSON_10 = "application/x-amz-json-1.0"  # DynamoDB
JSON_11 = "application/x-amz-json-1.1"  # Secrets Manager


class _Raw:
    """The slice of urllib3's response that botocore reads for a non-streaming body."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        yield self._body


class AwsStub:
    """Answers every request a stubbed client makes and counts them by operation.

    Stubbing at ``before-send`` (not botocore's Stubber, which answers at ``before-call``)
    keeps botocore's own work in the measurement: parameter validation, serialization,
    endpoint resolution, SigV4 signing, checksums and response parsing.
    """

    def __init__(self, secret_string: str) -> None:
        self.secret_string = secret_string
        # Seconds each answer waits, drawn between the two (None: at once): a round trip
        # to DynamoDB or S3 from Lambda in the same region takes some 5 to 10 ms.
        self.latency: tuple[float, float] | None = None
        self._random = random.Random(20261202)
        self._lock = threading.Lock()  # requests may come from two threads at once
        self.calls: Counter[str] = Counter()  # before-call: one per API call
        self.sends: Counter[str] = Counter()  # before-send: one per HTTP attempt, retries included
        self.items: Counter[str] = Counter()  # DynamoDB items written, by operation
        self.clients = 0

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb.*", self._items)
        client.meta.events.register("before-call.*.*", self._call)
        client.meta.events.register("before-send.*.*", self._send)
        self.clients += 1

    def take(self) -> tuple[Counter[str], Counter[str]]:
        """The HTTP requests and the DynamoDB items written since the last take, by operation."""
        if self.calls != self.sends:
            raise AssertionError(f"retried or unanswered requests: calls {self.calls}, sends {self.sends}")
        taken = self.sends.copy(), self.items.copy()
        self.calls.clear()
        self.sends.clear()
        self.items.clear()
        return taken

    def _items(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            self.items[model.name] += len(params.get("TransactItems", []))
        elif model.name in {"UpdateItem", "PutItem", "DeleteItem"}:
            self.items[model.name] += 1

    def _call(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1

    def _send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.sends[operation] += 1
            delay = self._random.uniform(*self.latency) if self.latency else 0.0
        if delay:
            time.sleep(delay)
        status, headers, body = self._answer(operation, request)
        # botocore copies any mapping into its own HeadersDict; urllib3's type is not needed.
        return AWSResponse(request.url, status, headers, _Raw(body))  # type: ignore[arg-type]

    def _answer(self, operation: str, request: AWSPreparedRequest) -> tuple[int, dict[str, str], bytes]:
        if operation in {"UpdateItem", "TransactWriteItems"}:
            # DynamoDB answers an UpdateItem without ReturnValues, and a committed
            # transaction, with an empty object; botocore checks x-amz-crc32 when present.
            return _json(JSON_10, {}, crc32=True)
        if operation in {"PutObject", "UploadPart"}:
            headers = {**_S3_HEADERS, "ETag": '"6805f2cfc46c0f04559748bb039d69ae"', "Content-Length": "0"}
            checksum = request.headers.get("x-amz-checksum-sha256")
            if checksum:
                headers["x-amz-checksum-sha256"] = (
                    str(checksum, "ascii") if isinstance(checksum, bytes) else checksum
                )
            return 200, headers, b""
        if operation == "CreateMultipartUpload":
            return _xml(
                "InitiateMultipartUploadResult",
                "<Bucket>bench</Bucket><Key>k</Key><UploadId>bench-upload</UploadId>",
            )
        if operation == "CompleteMultipartUpload":
            return _xml(
                "CompleteMultipartUploadResult",
                "<Bucket>bench</Bucket><Key>k</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-2&quot;</ETag>",
            )
        if operation == "AbortMultipartUpload":
            return 204, dict(_S3_HEADERS), b""
        if operation == "GetSecretValue":
            sent = request.body if isinstance(request.body, bytes | str) else b"{}"
            secret_id = json.loads(sent)["SecretId"]
            arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{secret_id}-AbCdEf"
            document = {
                "ARN": arn,
                "Name": secret_id,
                "VersionId": "b1a2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
                "SecretString": self.secret_string,
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1767225600.0,
            }
            return _json(JSON_11, document)
        raise AssertionError(f"no canned answer for {operation}: the handler made an unexpected request")


_S3_HEADERS = {
    "x-amz-request-id": "0A49CE4060975EAC",
    "x-amz-id-2": "bench",
    "x-amz-server-side-encryption": "AES256",
}


def _xml(root: str, inner: str) -> tuple[int, dict[str, str], bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{inner}</{root}>'
    ).encode()
    return 200, {**_S3_HEADERS, "Content-Type": "application/xml", "Content-Length": str(len(body))}, body


def _json(
    content_type: str, document: dict[str, Any], *, crc32: bool = False
) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(document).encode()
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "x-amzn-RequestId": "BENCH0REQUEST0ID0000000000000000000000000000000000",
    }
    if crc32:
        headers["x-amz-crc32"] = str(zlib.crc32(body) & 0xFFFFFFFF)
    return 200, headers, body


def _refuse(*_: Any, **__: Any) -> None:
    raise AssertionError("a socket was about to be used: the AWS stub missed a request")


@contextmanager
def stubbed_aws(stub: AwsStub) -> Iterator[AwsStub]:
    """Every boto3 client created inside gets the stub; DNS and connect raise.

    The clients are wrapped at creation rather than after, so a first invocation
    builds its clients lazily, as it does in Lambda, and still reaches no network.
    """
    original_connect, original_resolve = socket.socket.connect, socket.getaddrinfo
    socket.socket.connect = _refuse  # type: ignore[method-assign]
    socket.getaddrinfo = _refuse  # type: ignore[assignment]
    try:
        with every_new_client(stub.attach):
            yield stub
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.getaddrinfo = original_resolve


@contextmanager
def every_new_client(attach: Callable[[Any], None]) -> Iterator[None]:
    """``attach`` is given every boto3 client created inside, as it is created (so a client a
    handler builds lazily on its first invocation is seen too); clients made before are not."""
    original_client = boto3.session.Session.client

    def client(self: boto3.session.Session, *args: Any, **kwargs: Any) -> Any:
        made = original_client(self, *args, **kwargs)
        attach(made)
        return made

    boto3.session.Session.client = client  # type: ignore[method-assign]
    try:
        yield
    finally:
        boto3.session.Session.client = original_client  # type: ignore[method-assign]
