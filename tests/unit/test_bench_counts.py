"""The document and mail benches run and count what they say (counts only, never timings)."""

from __future__ import annotations

import boto3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench import documents, mail
from bench.stubs import AwsStub, stubbed_aws
from dealwire.store.archive import Archive


def test_the_document_job_bench_counts_its_docusign_calls() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    row = documents.run(256 * 1024, pem)
    # Cold: token, userinfo, the combined PDF, the certificate; warm: the two documents.
    assert (row["cold_calls"], row["warm_calls"]) == (4, 2)


def test_the_mail_bench_stores_every_part_through_a_real_client_and_packs_the_small_ones() -> None:
    stub = AwsStub("")
    with stubbed_aws(stub):
        archive = Archive("bench", client=boto3.session.Session(region_name="us-east-1").client("s3"))
        raw = mail.message(256 * 1024, 20)
        assert mail.ingest(raw, archive) >= mail.bare(raw)
        requests, _ = stub.take()
    assert requests == {"PutObject": 1}
    with stubbed_aws(stub):
        big = mail.message(12 * 1024 * 1024, 1)
        assert mail.ingest(big, archive) >= mail.bare(big)
        requests, _ = stub.take()
    # The text body packed; the 9 MB attachment a multipart upload of two parts.
    assert requests == {
        "PutObject": 1,
        "CreateMultipartUpload": 1,
        "UploadPart": 2,
        "CompleteMultipartUpload": 1,
    }
