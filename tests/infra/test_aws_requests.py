"""The local moto server counts each request by the function that signed it, its service and operation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest

from infra.local.aws_requests import PRESIGNED, CountingMotoServer, describe, function_access_key
from infra.local.launch import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

SIGNED = (
    "AWS4-HMAC-SHA256 Credential={key}/20261205/us-east-1/{service}/aws4_request,"
    " SignedHeaders=host, Signature=00"
)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"HTTP_AUTHORIZATION": SIGNED.format(key="local-ApiFunction", service="dynamodb"),
             "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query", "REQUEST_METHOD": "POST"},
            ("local-ApiFunction", "dynamodb", "Query"),
        ),
        (
            {"HTTP_AUTHORIZATION": SIGNED.format(key="k", service="sqs"), "REQUEST_METHOD": "POST",
             "QUERY_STRING": "Action=SendMessage&Version=2012-11-05"},
            ("k", "sqs", "SendMessage"),
        ),
        (
            {"HTTP_AUTHORIZATION": SIGNED.format(key="k", service="s3"), "REQUEST_METHOD": "PUT"},
            ("k", "s3", "PutObject"),
        ),
        (
            {"REQUEST_METHOD": "GET",
             "QUERY_STRING": "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=local-ApiFunction%2F20261205"
                             "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00"},
            (PRESIGNED, "s3", "GetObject"),
        ),
        (
            {"REQUEST_METHOD": "GET", "QUERY_STRING": "AWSAccessKeyId=k&Signature=00&Expires=1"},
            (PRESIGNED, "s3", "GetObject"),
        ),
        ({"REQUEST_METHOD": "GET"}, ("?", "?", "GET")),
    ],
)  # fmt: skip
def test_each_request_is_described_by_its_signer_service_and_operation(
    environ: dict[str, str], expected: tuple[str, str, str]
) -> None:
    assert describe(environ) == expected


@pytest.fixture(scope="module")
def server() -> Iterator[CountingMotoServer]:
    running = CountingMotoServer("127.0.0.1", free_port())
    running.start()
    yield running
    running.stop()


def test_a_functions_requests_are_counted_under_its_logical_id(server: CountingMotoServer) -> None:
    endpoint = f"http://127.0.0.1:{server.port}"

    def client(service: str, key: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service, region_name="us-east-1", endpoint_url=endpoint,
            aws_access_key_id=key, aws_secret_access_key="x", aws_session_token="x",
        )  # fmt: skip

    client("s3", "testing").create_bucket(Bucket="counted")
    s3 = client("s3", function_access_key("DocumentFetchFunction"))
    s3.put_object(Bucket="counted", Key="a", Body=b"a")
    link = s3.generate_presigned_url("get_object", Params={"Bucket": "counted", "Key": "a"})
    client("sqs", function_access_key("ApiFunction")).create_queue(QueueName="counted")
    assert httpx.get(link, trust_env=False).content == b"a"

    assert server.counter is not None
    counts = server.counter.snapshot()
    assert counts["DocumentFetchFunction"] == {"s3:PutObject": 1}
    assert counts["ApiFunction"] == {"sqs:CreateQueue": 1}
    assert counts[PRESIGNED] == {"s3:GetObject": 1}
    assert counts["local"] == {"s3:PutObject": 1}  # the bucket, by a caller that is no function
