"""The document job per completed envelope: DocuSign calls and the memory a large signed PDF costs."""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dealwire.contracts.events import FetchDocumentsJob
from dealwire.docusign import client as client_module
from dealwire.docusign.client import DocuSignApp, DocuSignClient
from dealwire.envelope_jobs import EnvelopeJobs
from dealwire.store.archive import Archive

if TYPE_CHECKING:
    from collections.abc import Iterator

RESULTS = Path(__file__).resolve().parent / "results-documents.md"
ACCOUNT = "9f1c2a7e-3b4d-4c5e-8f6a-1b2c3d4e5f60"
BASE = "https://demo.docusign.net/restapi"
SIZES_MB = (1, 10, 50)


class NullS3:
    """An S3 client that keeps nothing: the bench measures the job, not a bucket in memory."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def put_object(self, **_: Any) -> dict[str, Any]:
        self.requests.append("PutObject")
        return {}

    def create_multipart_upload(self, **_: Any) -> dict[str, Any]:
        self.requests.append("CreateMultipartUpload")
        return {"UploadId": "u"}

    def upload_part(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append("UploadPart")
        return {"ETag": f'"{kwargs["PartNumber"]}"'}

    def complete_multipart_upload(self, **_: Any) -> dict[str, Any]:
        self.requests.append("CompleteMultipartUpload")
        return {}


class Envelopes:
    """The envelope item's side of the job: nothing recorded yet, then the record."""

    def __init__(self) -> None:
        self.recorded: dict[str, Any] = {}

    def signed_documents(self, tenant_id: str, envelope_id: str) -> dict[str, Any]:
        return self.recorded

    def record_documents(self, tenant_id: str, envelope_id: str, documents: Any, outcome: str) -> None:
        self.recorded = dict(documents)


class Tenants:
    def get(self, tenant_id: str) -> Any:
        from dealwire.store.tenants import TenantConfig

        return TenantConfig(tenant_id=tenant_id, docusign_account_id=ACCOUNT, docusign_user_id="user")


def pdf_stream(size: int) -> Iterator[bytes]:
    """A PDF of ``size`` bytes, produced as the network would hand it over."""
    block = b"%PDF-1.4\n" + b"0" * (64 * 1024 - 9)
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        sent += len(piece)
        yield piece


def run(size: int, key_pem: str) -> dict[str, Any]:
    client_module._TOKENS.clear()
    app = DocuSignApp(
        integration_key="ik",
        user_id="user",
        private_key_pem=key_pem,
        auth_host="account-d.docusign.com",
        account_id=ACCOUNT,
    )
    s3 = NullS3()
    with respx.mock(assert_all_called=False) as router:
        router.post("https://account-d.docusign.com/oauth/token").respond(
            200, json={"access_token": "t", "expires_in": 3600}
        )
        router.get("https://account-d.docusign.com/oauth/userinfo").respond(
            200,
            json={
                # userinfo as DocuSign answers it: the user's id is always there.
                "sub": "4c3b2a19-8d7e-4f60-9a1b-2c3d4e5f6a7b",
                "accounts": [{"account_id": ACCOUNT, "base_uri": "https://demo.docusign.net"}],
            },
        )
        documents = f"{BASE}/v2.1/accounts/{ACCOUNT}/envelopes/e/documents"
        router.get(f"{documents}/combined").mock(
            side_effect=lambda _: httpx.Response(
                200, headers={"Content-Type": "application/pdf"}, stream=_Stream(size)
            )
        )
        router.get(f"{documents}/certificate").respond(
            200, headers={"Content-Type": "application/pdf"}, content=b"%PDF-1.4 certificate\n%%EOF\n"
        )
        docusign = DocuSignClient(app)
        jobs = EnvelopeJobs(
            tenants=Tenants(),  # type: ignore[arg-type]
            archive=Archive("bucket", client=s3),  # type: ignore[arg-type]
            envelopes=Envelopes(),  # type: ignore[arg-type]
            docusign=lambda _: docusign,
        )
        job = FetchDocumentsJob(
            job_id="j", tenant_id="t", account_id=ACCOUNT, envelope_id="e", completed_at="t"
        )
        tracemalloc.start()
        began = time.perf_counter()
        jobs.fetch_documents(job)
        elapsed = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        cold_calls = docusign.requests
        before = docusign.requests
        jobs._envelopes = Envelopes()  # type: ignore[assignment]  # a second envelope, warm token
        jobs.fetch_documents(job)
        warm_calls = docusign.requests - before
    return {
        "size": size,
        "peak": peak,
        "seconds": elapsed,
        "cold_calls": cold_calls,
        "warm_calls": warm_calls,
    }


class _Stream(httpx.SyncByteStream):
    def __init__(self, size: int) -> None:
        self.size = size

    def __iter__(self) -> Iterator[bytes]:
        yield from pdf_stream(self.size)


def main() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    rows = [run(mb * 1024 * 1024, pem) for mb in SIZES_MB]
    lines = [
        "Document job per completed envelope (`bench/documents.py`): DocuSign answered by respx "
        "(no network), S3 by a client that keeps nothing, memory by `tracemalloc` (peak while the "
        "job runs, Python allocations).",
        "",
        "| Combined PDF | Peak memory | Peak / PDF size | DocuSign calls, cold | DocuSign calls, warm |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['size'] / 1048576:.0f} MB | {row['peak'] / 1048576:.1f} MB "
            f"| {row['peak'] / row['size']:.2f}x | {row['cold_calls']} | {row['warm_calls']} |"
        )
    report = "\n".join(lines) + "\n"
    RESULTS.write_text(report)
    print(report)
    print(f"(also written to {RESULTS})", file=sys.stderr)


if __name__ == "__main__":
    main()
