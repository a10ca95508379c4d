"""`python -m bench.local_burst`: a burst of signed Connect callbacks against `make run`; latency stays flat.

Posts ``--callbacks`` (2,000) HMAC-signed JSON SIM callbacks for ``--envelopes`` (200)
envelopes from ``--clients`` (20) concurrent clients: each envelope's life up to both
signers having signed (eight events in order), interleaved across envelopes, plus Connect's
retries (exact re-posts, ``--duplicates`` of them) and so, under concurrency, some stale
events. Nothing completes, so no document job asks the simulator for envelopes it never had.

It reports latency (p50, p99; the first and the last tenth of the burst side by side),
requests per second, the peak RSS of the stack's whole process tree (the moto server is in
``make run``'s own process; the function workers are its children) read from /proc, how
long after the burst the stream had published every envelope's last change on the bus,
and how many records the table's stream still holds.

Against a running ``make run`` (its ``.dealwire/local.json``), or ``--own-stack`` to start
one on free ports and stop it afterwards. ``--max-rss-mb`` and ``--max-seconds`` end the
burst early if the stack's tree grows past the one or the burst lasts past the other (the
stack before its moto patches reached 13.5 GB and seconds per request).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from dealwire.webhook.signature import sign
from infra.local.launch import launched
from tests.support import signer, sim_message

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATE_FILE = ROOT / ".dealwire" / "local.json"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# The life of one envelope: (event, envelope status, signer 1's status, signer 2's status).
LIFE = (
    ("envelope-sent", "sent", "sent", "created"),
    ("recipient-sent", "sent", "sent", "created"),
    ("recipient-delivered", "delivered", "delivered", "created"),
    ("recipient-completed", "delivered", "completed", "created"),
    ("recipient-sent", "delivered", "completed", "sent"),
    ("recipient-delivered", "delivered", "completed", "delivered"),
    ("envelope-delivered", "delivered", "completed", "delivered"),
    ("recipient-completed", "delivered", "completed", "completed"),
)


def callback(envelope_id: str, account_id: str, step: int) -> bytes:
    """Step ``step`` of an envelope's life as a JSON SIM message with envelope data (the full form)."""
    event, status, first, second = LIFE[step]
    minute, second_of_minute = divmod(step * 7, 60)
    message = sim_message(
        event,
        f"2026-11-25T06:{minute:02d}:{second_of_minute:02d}.{step:07d}Z",
        status=status,
        signers=[signer("1", first, routing_order=1), signer("2", second, routing_order=2)],
        recipient_id=("1" if step < 4 else "2") if event.startswith("recipient-") else None,
        envelope_id=envelope_id,
        account_id=account_id,
    )
    return json.dumps(message).encode()


def workload(envelopes: int, callbacks: int, account_id: str, seed: int) -> tuple[list[str], list[bytes]]:
    """Every envelope's life in order, envelopes interleaved; re-posts fill the count up to ``callbacks``."""
    rng = random.Random(seed)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(envelopes)]
    bodies = [callback(envelope_id, account_id, step) for step in range(len(LIFE)) for envelope_id in ids]
    for _ in range(max(0, callbacks - len(bodies))):
        # Connect retries a callback some time after the original.
        position = rng.randrange(1, len(bodies))
        bodies.insert(rng.randrange(position, len(bodies) + 1), bodies[rng.randrange(position)])
    return ids, bodies[:callbacks]


@dataclass
class Result:
    started: float
    seconds: float
    status: int
    outcome: str


def post(url: str, body: bytes, key: str) -> Result:
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json", "X-DocuSign-Signature-1": sign(body, key)}
    started = time.monotonic()
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    try:
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        # Counted, not fatal: a reset or a time-out is one of the things a burst measures.
        return Result(started, time.monotonic() - started, 0, type(exc).__name__)
    finally:
        connection.close()
    seconds = time.monotonic() - started
    try:
        outcome = str(json.loads(answer).get("status", status))
    except (ValueError, AttributeError):
        outcome = str(status)
    return Result(started, seconds, status, outcome)


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it, from /proc's parent ids."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # The parent id is the 2nd field after the parenthesised command name.
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += children.get(pid, [])
    return found


def rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int((Path("/proc") / str(pid) / "statm").read_text().split()[1]) * PAGE_SIZE
    return 0


@dataclass
class MemorySampler:
    """Samples the RSS of a process tree every ``interval`` seconds in a thread."""

    root: int
    interval: float = 0.2
    peak_tree: int = 0
    peak_root: int = 0
    last_tree: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> int:
        tree = process_tree(self.root)
        sizes = [rss_bytes(pid) for pid in tree]
        self.last_tree = sum(sizes)
        self.peak_tree = max(self.peak_tree, self.last_tree)
        self.peak_root = max(self.peak_root, sizes[0] if sizes else 0)
        return self.last_tree

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(self.interval):
                self.sample()

        self.sample()
        self._thread = threading.Thread(target=run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def aws(state: dict[str, Any], service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=state["region"],
        endpoint_url=state["aws_endpoint_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
        aws_session_token="testing",  # noqa: S106
    )


def wait_for_publication(
    state: dict[str, Any], envelope_ids: set[str], burst_ended: datetime, timeout: float
) -> tuple[float, int]:
    """When the last envelope's last change (its second signer "completed") was put on the bus, in
    seconds after the burst (EventBridge's ``time``, to the second, so the drain's own pace does
    not count), and how many envelopes got there within ``timeout``."""
    sqs = aws(state, "sqs")
    started = time.monotonic()
    last: dict[str, datetime] = {}
    while len(last) < len(envelope_ids) and time.monotonic() - started < timeout:
        entries = sqs.receive_message(QueueUrl=state["bus_tap_queue_url"], MaxNumberOfMessages=10).get(
            "Messages", []
        )
        for message in entries:
            event = json.loads(message["Body"])
            detail = event.get("detail", {})
            if (
                detail.get("envelopeId") in envelope_ids
                and event.get("detail-type") == "envelope.recipient_status_changed"
                and (detail.get("recipientId"), detail.get("status")) == ("2", "completed")
            ):
                last[detail["envelopeId"]] = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        if entries:
            sqs.delete_message_batch(
                QueueUrl=state["bus_tap_queue_url"],
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(entries)],
            )
        else:
            time.sleep(0.2)
    lag = max(0.0, (max(last.values()) - burst_ended).total_seconds()) if last else float("nan")
    return lag, len(last)


def stream_records_left(state: dict[str, Any]) -> int:
    """How many records the table's stream still holds (all of them, before the local moto patches)."""
    dynamodb, streams = aws(state, "dynamodb"), aws(state, "dynamodbstreams")
    arn = dynamodb.describe_table(TableName=state["table_name"])["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    position, count = iterator["ShardIterator"], 0
    while True:
        page = streams.get_records(ShardIterator=position, Limit=1000)
        if not page["Records"]:
            return count
        count += len(page["Records"])
        position = page["NextShardIterator"]


def burst(state: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    ids, bodies = workload(args.envelopes, args.callbacks, state["docusign_account_id"], args.seed)
    key = state["docusign_hmac_keys"][0]
    sampler = MemorySampler(int(state["pid"]))
    sampler.start()
    aborted = threading.Event()

    started = time.monotonic()

    def one(body: bytes) -> Result | None:
        if aborted.is_set():
            return None
        if sampler.last_tree > args.max_rss_mb * 2**20 or time.monotonic() - started > args.max_seconds:
            aborted.set()
            return None
        return post(state["webhook_url"], body, key)

    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        results = [r for r in pool.map(one, bodies) if r is not None]
    elapsed = time.monotonic() - started
    ended = datetime.now(UTC).replace(microsecond=0)
    publication, published = wait_for_publication(state, set(ids), ended, args.settle_seconds)
    sampler.stop()
    results.sort(key=lambda r: r.started)
    latencies = [r.seconds * 1000 for r in results]
    tenth = max(1, len(results) // 10)
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    return {
        "sent": len(results),
        "planned": len(bodies),
        "aborted": aborted.is_set(),
        "seconds": elapsed,
        "rps": len(results) / elapsed if elapsed else 0.0,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "early_p50": percentile(latencies[:tenth], 0.5),
        "early_p99": percentile(latencies[:tenth], 0.99),
        "late_p50": percentile(latencies[-tenth:], 0.5),
        "late_p99": percentile(latencies[-tenth:], 0.99),
        "tenths_p50": [
            statistics.median(latencies[n * tenth : (n + 1) * tenth] or [float("nan")]) for n in range(10)
        ],
        "outcomes": outcomes,
        "errors": sum(1 for r in results if r.status >= 500 or r.status == 0),
        "peak_tree_mb": sampler.peak_tree / 2**20,
        "peak_root_mb": sampler.peak_root / 2**20,
        "end_tree_mb": sampler.last_tree / 2**20,
        "publication_seconds": publication,
        "published": published,
        "envelopes": len(ids),
        "stream_records_left": stream_records_left(state),
    }


def report(figures: dict[str, Any], args: argparse.Namespace) -> str:
    f = figures
    outcomes = ", ".join(f"{name} {count}" for name, count in sorted(f["outcomes"].items()))
    cut = " (ABORTED: memory or time limit)" if f["aborted"] else ""
    lines = [
        "# A Connect burst against `make run` (`python -m bench.local_burst`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs, Python {platform.python_version()};"
        " one warm container per function, so latency includes the queue at the webhook's container.",
        "",
        f"{f['sent']} of {f['planned']} callbacks for {f['envelopes']} envelopes from {args.clients} clients"
        f" in {f['seconds']:.1f} s{cut}; answers: {outcomes}",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| requests per second | {f['rps']:.0f} |",
        f"| latency p50 / p99 | {f['p50']:.0f} ms / {f['p99']:.0f} ms |",
        f"| first tenth p50 / p99 | {f['early_p50']:.0f} ms / {f['early_p99']:.0f} ms |",
        f"| last tenth p50 / p99 | {f['late_p50']:.0f} ms / {f['late_p99']:.0f} ms |",
        "| p50 by tenth of the burst | " + " · ".join(f"{v:.0f}" for v in f["tenths_p50"]) + " ms |",
        f"| 5xx answers and failed connections | {f['errors']} |",
        f"| peak RSS, stack process tree (moto's process alone) | {f['peak_tree_mb']:.0f} MB"
        f" ({f['peak_root_mb']:.0f} MB) |",
        f"| every envelope's last change on the bus | {f['published']} of {f['envelopes']},"
        f" the last {f['publication_seconds']:.0f} s after the burst |",
        f"| records left in the table's stream | {f['stream_records_left']} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_burst", description=__doc__.splitlines()[0])
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    parser.add_argument("--own-stack", action="store_true", help="start a stack on free ports for the run")
    parser.add_argument("--callbacks", type=int, default=2000)
    parser.add_argument("--envelopes", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--max-rss-mb", type=float, default=8192, help="end the burst early past this RSS")
    parser.add_argument("--max-seconds", type=float, default=900, help="end the burst early after this long")
    parser.add_argument("--settle-seconds", type=float, default=120, help="how long to wait for the bus")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.own_stack:
            state = stack.enter_context(
                launched(Path(stack.enter_context(tempfile.TemporaryDirectory())))
            ).state
        else:
            try:
                state = json.loads(args.state_file.read_text())
            except FileNotFoundError:
                sys.stderr.write(f"{args.state_file} does not exist: `make run` first, or use --own-stack\n")
                return 2
        figures = burst(state, args)
    text = report(figures, args)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 1 if figures["aborted"] or figures["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
