"""`make demo`: dealwire's whole job over the local system, each step proven by reading back what it stored.

Uses the `make run` that is up (its `.dealwire/local.json`), or starts one on free ports and
stops it at the end. A deal of its own per run (``deal-demo-<hex>``), so it can run again
on the same stack. Exit 0 only when every step verified.
"""

from __future__ import annotations

import argparse
import json
import secrets
import smtplib
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import boto3
import httpx

from infra.docusign_sim import SimulatorControl
from infra.local.aws_requests import AWS_REQUESTS_PATH, PRESIGNED
from infra.local.launch import LaunchFailed, launched
from infra.local.run import DEFAULT_STATE_FILE, running_stack
from infra.local.show import point_at_stack
from infra.local.stage import stage_changed
from infra.local.tick import TickFailed, tick_command

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

T = TypeVar("T")

WAIT_SECONDS = 60.0
# The demo's own AWS requests (its reads to verify) are signed with this key: they are not
# what dealwire costs, and the moto server's count tells them apart.
DEMO_ACCESS_KEY = "demo"


class NotVerified(Exception):
    """A step's effect was not what it should be: what was expected, and what was found."""

    def __init__(self, expected: str, found: object) -> None:
        super().__init__(f"expected {expected}; found {_short(found)}")
        self.expected, self.found = expected, found


def _short(value: object, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StepResult:
    number: int
    title: str
    verified: bool = False
    seconds: float = 0.0
    aws: dict[str, int] = field(default_factory=dict)  # dealwire's functions: requests by function
    docusign: int = 0
    failure: str | None = None


class Story:
    """The eight steps over one running stack; ``out`` is where a person reads them."""

    def __init__(self, state: dict[str, Any], out: TextIO, *, pause: float = 0.0) -> None:
        self.state, self.out, self.pause = state, out, pause
        self.tty = out.isatty()
        run = secrets.token_hex(3)
        self.deal = f"deal-demo-{run}"
        self.title = f"Acme renewal {run}"
        self.user = (f"user-demo-{run}", "Sam Seller", f"sam.{run}@dealwire.localhost")
        self.persons = [
            (f"person-demo-{run}-1", "Ada Lovelace", f"ada.{run}@customer.localhost"),
            (f"person-demo-{run}-2", "Grace Hopper", f"grace.{run}@customer.localhost"),
        ]
        aws = {
            "region_name": state["region"],
            "endpoint_url": state["aws_endpoint_url"],
            "aws_access_key_id": DEMO_ACCESS_KEY,
            "aws_secret_access_key": "demo",
        }
        self.dynamodb = boto3.client("dynamodb", **aws)
        self.s3 = boto3.client("s3", **aws)
        self.events = boto3.client("events", **aws)
        self.sqs = boto3.client("sqs", **aws)
        self.api = httpx.Client(
            base_url=state["api_url"],
            headers={"Authorization": f"Bearer {state['api_token']}"},
            timeout=30,
            trust_env=False,
        )
        self.local = httpx.Client(base_url=state["http_url"], timeout=30, trust_env=False)
        self.sim = SimulatorControl(state["docusign_url"])
        self.bus: list[dict[str, Any]] = []  # dealwire's events on the bus, as the tap received them
        self.stage_tap = self._stage_tap()
        self.envelope_id = ""
        self.manual_envelope_id = ""
        self.stage_event: dict[str, Any] = {}

    def close(self) -> None:
        self.api.close()
        self.local.close()

    # -- telling ------------------------------------------------------------------------

    def say(self, line: str = "") -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def stored(self, line: str) -> None:
        self.say(f"     {line}")

    def until(
        self,
        what: str,
        read: Callable[[], T],
        done: Callable[[T], bool] = bool,
        timeout: float = WAIT_SECONDS,
    ) -> T:
        """``read()`` once ``done`` says so, with a progress line while it waits."""
        started = time.monotonic()
        while True:
            value = read()
            if done(value):
                if self.tty:
                    self.out.write("\r\033[K")
                return value
            waited = time.monotonic() - started
            if waited > timeout:
                if self.tty:
                    self.out.write("\r\033[K")
                raise NotVerified(f"{what} within {timeout:.0f} s", value)
            if self.tty:
                self.out.write(f"\r     ... waiting for {what} ({waited:.0f} s)")
                self.out.flush()
            time.sleep(0.2)

    # -- reading the stack --------------------------------------------------------------

    def get(self, path: str) -> Any:  # noqa: ANN401 - the API's JSON
        answer = self.api.get(path)
        if answer.status_code != 200:
            raise NotVerified(f"200 from GET /v1{path}", f"{answer.status_code} {answer.text}")
        return answer.json()

    def item(self, key: Any) -> dict[str, Any]:  # noqa: ANN401 - a dealwire.store.table key
        from dealwire.store.table import deserialize  # noqa: PLC0415 - functions/ is on the path

        found = self.dynamodb.get_item(
            TableName=self.state["table_name"], Key=key.item(), ConsistentRead=True
        )
        return deserialize(found["Item"]) if "Item" in found else {}

    def aws_requests(self) -> dict[str, dict[str, int]]:
        answer: dict[str, dict[str, int]] = self.local.get(AWS_REQUESTS_PATH).json()
        return answer

    def docusign_requests(self) -> int:
        return len(self.sim.requests())

    def drain_bus(self) -> list[dict[str, Any]]:
        self.bus.extend(self._drain(self.state["bus_tap_queue_url"]))
        return self.bus

    def bus_events(self, detail_type: str, **detail: str) -> list[dict[str, Any]]:
        self.drain_bus()
        return [
            event
            for event in self.bus
            if event["detail-type"] == detail_type
            and all(event["detail"].get(name) == value for name, value in detail.items())
        ]

    def _drain(self, url: str) -> list[dict[str, Any]]:
        bodies: list[dict[str, Any]] = []
        while messages := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    def _stage_tap(self) -> str:
        """A queue of the demo's own on the bus, receiving the CRM's stage changes as
        EventBridge delivers them (the id included), so one can be delivered again."""
        name = f"{self.state['stack_name']}-demo-stage-tap"
        url = str(self.sqs.create_queue(QueueName=name)["QueueUrl"])
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.events.put_rule(
            Name=name,
            EventBusName=self.state["event_bus_name"],
            EventPattern=json.dumps(
                {"source": [self.state["crm_event_source"]], "detail-type": ["deal.stage_changed"]}
            ),
        )
        self.events.put_targets(
            Rule=name, EventBusName=self.state["event_bus_name"], Targets=[{"Id": "demo", "Arn": arn}]
        )
        self._drain(url)  # what an earlier run left
        return url

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        answer = self.events.put_events(
            Entries=[
                {
                    "Source": self.state["crm_event_source"],
                    "DetailType": detail_type,
                    "Detail": json.dumps({"tenantId": self.state["tenant_id"], **detail}),
                    "EventBusName": self.state["event_bus_name"],
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            raise NotVerified(f"the bus to take {detail_type}", answer["Entries"])

    def sim_envelopes(self, deal_id: str) -> list[dict[str, Any]]:
        def deal_of(envelope: dict[str, Any]) -> str | None:
            fields = envelope.get("customFields", {}).get("textCustomFields", [])
            return next((f["value"] for f in fields if f["name"] == "dealwire_deal_id"), None)

        return [e for e in self.sim.envelopes() if deal_of(e) == deal_id]

    def tracker(self, envelope_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/envelopes/{envelope_id}")
        return answer.json() if answer.status_code == 200 else {}

    # -- the story ----------------------------------------------------------------------

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("the CRM publishes two persons, a user and a deal", self.crm_publishes),
            ("the deal enters the rule's stage: one envelope, two signers in order", self.stage_sends),
            ("the same stage event again: nothing new is sent", self.stage_again),
            ("the signers sign; Connect's callbacks move the tracker", self.signing),
            ("the signed PDF and the certificate, in S3 and through the API", self.documents),
            ("Smart BCC: a mail, a Gmail forward and a reply on the deal's threads", self.mail),
            ("a manual send, completed with Connect off; one poll cycle catches up", self.poll),
        ]

    def crm_publishes(self) -> None:
        from dealwire.store.table import deal_key, person_key, user_key  # noqa: PLC0415

        tenant = self.state["tenant_id"]
        user_id, user_name, user_email = self.user
        self.publish(
            "user.upserted",
            {
                "userId": user_id,
                "name": user_name,
                "email": user_email,
                "mailSharing": "shared",
                "updatedAt": _now(),
            },
        )
        for person_id, name, email in self.persons:
            self.publish(
                "person.upserted",
                {"personId": person_id, "name": name, "emails": [email], "updatedAt": _now()},
            )
        self.publish(
            "deal.upserted",
            {
                "dealId": self.deal,
                "title": self.title,
                "status": "open",
                "personIds": [p[0] for p in self.persons],
                "ownerUserId": user_id,
                "updatedAt": _now(),
            },
        )
        user = self.until("the user in DynamoDB", lambda: self.item(user_key(tenant, user_id)))
        self.stored(f"user {user_id}: {user.get('name')} <{user_email}>, mail shared")
        for person_id, _, _ in self.persons:
            person = self.until(f"{person_id} in DynamoDB", partial(self.item, person_key(tenant, person_id)))
            self.stored(f"person {person_id}: {person.get('name')} {sorted(person.get('emails', []))}")
        self.until("the deal in DynamoDB", lambda: self.item(deal_key(tenant, self.deal)))
        view = self.until(
            "the deal through GET /v1/deals/{id} with both contacts named",
            lambda: self.api.get(f"/deals/{self.deal}"),
            lambda answer: (
                answer.status_code == 200
                and all(c["name"] for c in answer.json()["contacts"])
                and len(answer.json()["contacts"]) == 2
            ),
        ).json()
        contacts = ", ".join(f"{c['name']} ({c['personId']})" for c in view["contacts"])
        self.stored(f"deal {self.deal}: {view['title']!r}, {view['status']}, contacts {contacts}")

    def stage_sends(self) -> None:
        contacts = [f"{name} <{email}>" for _, name, email in self.persons]
        detail = stage_changed(
            self.state, deal=self.deal, title=self.title, stage="contract", contacts=contacts
        )
        for contact, (person_id, _, _) in zip(detail["contacts"], self.persons, strict=True):
            contact["personId"] = person_id
        self.publish("deal.stage_changed", {key: value for key, value in detail.items() if key != "tenantId"})
        (sent,) = self.until("one envelope for the deal in DocuSign", lambda: self.sim_envelopes(self.deal))
        self.envelope_id = sent["envelopeId"]
        signers = sorted(sent["recipients"]["signers"], key=lambda s: int(s["routingOrder"]))
        expected = [(1, name, email) for _, name, email in self.persons[:1]] + [
            (2, name, email) for _, name, email in self.persons[1:]
        ]
        found = [(int(s["routingOrder"]), s["name"], s["email"]) for s in signers]
        if found != expected:
            raise NotVerified(f"signers in routing order {expected}", found)
        if sent["emailSubject"] != f"Please sign: {self.title}":
            raise NotVerified(f"the subject 'Please sign: {self.title}'", sent["emailSubject"])
        tabs = {t["tabLabel"]: t["value"] for t in signers[0]["tabs"].get("textTabs", [])}
        if tabs.get("deal_title") != self.title:
            raise NotVerified(f"the deal_title tab filled with {self.title!r}", tabs)
        self.stored(
            f"DocuSign envelope {self.envelope_id}: {sent['emailSubject']!r},"
            f" deal_title tab {tabs['deal_title']!r}"
        )
        for order, name, email in found:
            self.stored(f"  routing order {order}: {name} <{email}>")
        automation = self.until(
            "the rule's outcome 'sent' on the deal (GET /v1/deals/{id})",
            lambda: self.get(f"/deals/{self.deal}")["automations"],
            lambda found: any(a["state"] == "sent" for a in found),
        )
        self.stored(
            f"automation {automation[0]['ruleId']}: sent {automation[0]['envelopeId']}"
            f" at {automation[0]['sentAt']}"
        )
        tracker = self.until("the envelope in dealwire", lambda: self.tracker(self.envelope_id))
        self.stored(f"tracker: {tracker['status']}, {tracker['progress']}")
        published = self.until(
            "automation.envelope_sent on the bus",
            lambda: self.bus_events("automation.envelope_sent", dealId=self.deal),
        )
        self.stored(f"bus: automation.envelope_sent (sendId {published[0]['detail']['sendId']})")
        (self.stage_event,) = self.until(
            "the stage change as EventBridge delivered it", lambda: self._drain(self.stage_tap)
        )

    def stage_again(self) -> None:
        from dealwire.store.table import automation_key  # noqa: PLC0415

        tenant = self.state["tenant_id"]
        rule_id = self.state["automation_rule_id"]
        before = self.item(automation_key(tenant, self.deal, rule_id))
        [route] = self.state["rule_queue_urls"]["StageTriggerFunction"]
        # EventBridge delivering the same event again (the same id), and the CRM publishing the
        # same change again (a new event id, the same change time).
        self.sqs.send_message(QueueUrl=route, MessageBody=json.dumps(self.stage_event))
        self.publish(
            "deal.stage_changed", {k: v for k, v in self.stage_event["detail"].items() if k != "tenantId"}
        )

        def pending() -> int:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=route,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            return sum(int(value) for value in attributes.values())

        self.until("stage_trigger to take both deliveries", pending, lambda left: left == 0)
        envelopes = self.sim_envelopes(self.deal)
        if [e["envelopeId"] for e in envelopes] != [self.envelope_id]:
            raise NotVerified(f"still one envelope, {self.envelope_id}", [e["envelopeId"] for e in envelopes])
        after = self.item(automation_key(tenant, self.deal, rule_id))
        if after != before:
            raise NotVerified("the rule's record for the deal unchanged", {"before": before, "after": after})
        self.stored(f"DocuSign: still one envelope for the deal ({self.envelope_id})")
        self.stored(f"automation record unchanged: {after['state']}, send {after['send_id']}")

    def signing(self) -> None:
        seen = [self.until("0/2 signed", lambda: self.tracker(self.envelope_id))["progress"]]
        for recipient in ("1", "2"):
            self.sim.deliver(self.envelope_id, recipient)
            self.sim.sign(self.envelope_id, recipient)
            tracker = self.until(
                f"{recipient}/2 signed through the API",
                lambda: self.tracker(self.envelope_id),
                partial(_progress_is, f"{recipient}/2 signed"),
            )
            seen.append(tracker["progress"])
            time.sleep(self.pause)
            signer = next(r for r in tracker["recipients"] if r["recipientId"] == recipient)
            self.stored(f"{signer['name']} opened and signed at {signer['signedAt']}: {tracker['progress']}")
        done = self.until(
            "completed", lambda: self.tracker(self.envelope_id), lambda t: t.get("status") == "completed"
        )
        callbacks = [
            c
            for c in self.sim.callbacks()
            if c["envelopeId"] == self.envelope_id and c["outcome"] == "delivered"
        ]
        self.stored(
            f"Connect delivered {len(callbacks)} callbacks: " + ", ".join(c["event"] for c in callbacks)
        )
        signed_first = next(
            c for c in callbacks if c["event"] == "recipient-completed" and c["recipientId"] == "1"
        )
        answers = [self._redeliver(signed_first) for _ in range(2)]
        oldest = self._redeliver(callbacks[0])  # envelope-sent, after the envelope completed
        if [*answers, oldest] != ["stale"] * 3:
            raise NotVerified("the duplicate twice and the old callback answered 'stale'", [*answers, oldest])
        after = self.tracker(self.envelope_id)
        if (after["status"], after["progress"], after["statusChangedAt"]) != (
            done["status"],
            done["progress"],
            done["statusChangedAt"],
        ):
            raise NotVerified(f"the tracker still completed, {done['progress']}", after)
        self.stored(
            f"recipient 1's callback again, twice, and {callbacks[0]['event']!r} after completion:"
            " stale, nothing moved"
        )
        self.stored(
            "tracker: " + " -> ".join(progress.split()[0] for progress in seen) + f", {after['status']}"
        )

    def _redeliver(self, callback: dict[str, Any]) -> str:
        headers = {"Content-Type": callback["contentType"]}
        headers |= {f"X-DocuSign-Signature-{n}": s for n, s in enumerate(callback["signatures"], start=1)}
        answer = httpx.post(
            callback["url"], content=callback["body"].encode(), headers=headers, timeout=30, trust_env=False
        )
        if answer.status_code != 200:
            raise NotVerified(
                f"200 for a redelivered {callback['event']}", f"{answer.status_code} {answer.text}"
            )
        status: str = answer.json()["status"]
        return status

    def documents(self) -> None:
        from dealwire.store.table import envelope_key  # noqa: PLC0415

        stored = self.until(
            "the document job to record the signed documents",
            lambda: (
                self.item(envelope_key(self.state["tenant_id"], self.envelope_id)).get("signed_documents")
                or {}
            ),
            lambda found: {"combined", "certificate"} <= set(found),
        )
        for name, certificate in (("combined", False), ("certificate", True)):
            in_docusign = self.sim.document(self.envelope_id, name, certificate=certificate)
            key = stored[name]["key"]
            in_s3 = self.s3.get_object(Bucket=self.state["documents_bucket"], Key=key)["Body"].read()
            link = self.get(f"/envelopes/{self.envelope_id}/documents/{name}?redirect=false")
            downloaded = httpx.get(link["url"], timeout=30, trust_env=False)
            if downloaded.status_code != 200:
                raise NotVerified(f"200 from the presigned link of {name}", downloaded.status_code)
            if not in_docusign == in_s3 == downloaded.content:
                raise NotVerified(
                    f"{name} byte-identical in DocuSign, S3 and the download",
                    {"docusign": len(in_docusign), "s3": len(in_s3), "download": len(downloaded.content)},
                )
            self.stored(
                f"{name}: s3://{self.state['documents_bucket']}/{key} ({len(in_s3):,} bytes);"
                " the API's link gives DocuSign's bytes"
            )
        self.until(
            "envelope.documents_stored on the bus",
            lambda: self.bus_events("envelope.documents_stored", envelopeId=self.envelope_id),
        )
        self.stored("bus: envelope.completed, envelope.documents_stored")

    def mail(self) -> None:
        _, user_name, user_email = self.user
        _, ada_name, ada_email = self.persons[0]
        ada = f"{ada_name} <{ada_email}>"
        first = self._message(
            ada,
            f"Renewal terms for {self.title}",
            f"Hello {ada_name.split()[0]},\n\nthe renewal terms are attached.\n\nSam",
        )
        first.add_attachment(
            b"%PDF-1.4 renewal terms\n", maintype="application", subtype="pdf", filename="terms.pdf"
        )
        self._smtp(first, user_email)
        # Forwarded as Gmail writes it: the original's header block in the body.
        forwarded = self._message(
            self.state["bcc_address"],
            f"Fwd: Question about {self.title}",
            "FYI\n\n---------- Forwarded message ---------\n"
            f"From: {ada}\n"
            f"Date: {format_datetime(datetime.now(UTC))}\n"
            f"Subject: Question about {self.title}\n"
            f"To: {user_name} <{user_email}>\n\n"
            "Does the renewal include support?\n",
        )
        self._smtp(forwarded, user_email)
        reply = self._message(
            ada,
            f"Re: Renewal terms for {self.title}",
            "One more thing: the prices hold until the end of the year.",
        )
        reply["In-Reply-To"] = reply["References"] = first["Message-ID"]
        self._smtp(reply, user_email)

        threads = self.until(
            "two threads on the deal holding three messages",
            lambda: self.get(f"/deals/{self.deal}/threads")["threads"],
            lambda found: sorted(t["messageCount"] for t in found) == [1, 2],
        )
        for thread in threads:
            page = self.get(f"/threads/{thread['threadId']}")
            for message in page["messages"]:
                attachments = [p["filename"] for p in message["parts"] if p["role"] == "attachment"]
                if message["kind"] == "forward" and not any(p["email"] == ada_email for p in message["from"]):
                    raise NotVerified(
                        f"the forward linked to its original sender {ada_email}", message["from"]
                    )
                self.stored(
                    f"thread {thread['threadId'][:12]}... {message['kind']:7} {message['subject']!r}"
                    + (f" with {', '.join(attachments)}" if attachments else "")
                )
        self.until(
            "mail.thread_linked on the bus for both threads",
            lambda: {
                e["detail"]["threadId"] for e in self.bus_events("mail.thread_linked", dealId=self.deal)
            },
            lambda found: found >= {t["threadId"] for t in threads},
        )

    def _message(self, to: str, subject: str, body: str) -> EmailMessage:
        """A mail from the demo's user, as their mail client writes it."""
        _, user_name, user_email = self.user
        message = EmailMessage()
        message["From"] = f"{user_name} <{user_email}>"
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain="dealwire.localhost")
        message.set_content(body)
        return message

    def _smtp(self, message: EmailMessage, sender: str) -> None:
        with smtplib.SMTP(self.state["smtp_host"], self.state["smtp_port"], timeout=30) as smtp:
            smtp.send_message(message, from_addr=sender, to_addrs=[self.state["bcc_address"]])

    def poll(self) -> None:
        _, ada_name, ada_email = self.persons[0]
        _, grace_name, grace_email = self.persons[1]
        answer = self.api.post(
            f"/deals/{self.deal}/envelopes",
            headers={"Idempotency-Key": f"{self.deal}-manual"},
            json={
                "templateId": "tpl-nda",
                "emailSubject": f"Order form for {self.title}",
                "recipients": [
                    {"roleName": "Signer 1", "name": ada_name, "email": ada_email},
                    {"roleName": "Signer 2", "name": grace_name, "email": grace_email},
                ],
            },
        )
        if answer.status_code != 200 or answer.json().get("status") != "sent":
            raise NotVerified(
                "200 and status 'sent' from POST /v1/deals/{id}/envelopes",
                f"{answer.status_code} {answer.text}",
            )
        self.manual_envelope_id = envelope_id = answer.json()["envelopeId"]
        self.stored(f"sent by hand: {envelope_id}")
        self.until("the manual envelope in dealwire", lambda: self.tracker(envelope_id))
        self.sim.connect_off([envelope_id])
        try:
            for recipient in ("1", "2"):
                self.sim.sign(envelope_id, recipient)
            if self.sim.envelope(envelope_id)["status"] != "completed":
                raise NotVerified(
                    "the envelope completed in DocuSign", self.sim.envelope(envelope_id)["status"]
                )
            before = self.tracker(envelope_id)
            if before["status"] != "sent":
                raise NotVerified("dealwire still at 'sent' (no callback came)", before["status"])
            self.stored(
                f"Connect off; both signed in DocuSign; dealwire still says {before['status']},"
                f" {before['progress']}"
            )
            cycle = self._tick()
            self.stored(f"one poll cycle: {cycle.get('outcome')}, {cycle.get('reconciled')} reconciled")
        finally:
            self.sim.connect_on([envelope_id])
        after = self.tracker(envelope_id)
        if (after["status"], after["progress"], after.get("lastChangeSource")) != (
            "completed",
            "2/2 signed",
            "poll",
        ):
            raise NotVerified("completed, 2/2 signed, last change by poll", after)
        self.stored(
            f"tracker: {after['status']}, {after['progress']}, last change from {after['lastChangeSource']}"
        )

    def _tick(self) -> dict[str, Any]:
        """The README's `python -m infra.local.tick status_poll`, against this stack."""
        try:
            lines = tick_command(self.state["state_file"])
        except TickFailed as exc:
            raise NotVerified("the poll cycle to run", str(exc)) from None
        cycle: dict[str, Any] = lines[-1].get("cycle") or {}
        if cycle.get("outcome") != "done":
            raise NotVerified("a finished poll cycle", lines)
        return cycle

    # -- the whole ----------------------------------------------------------------------

    def tell(self) -> list[StepResult]:
        results: list[StepResult] = []
        for number, (title, step) in enumerate(self.steps(), start=1):
            result = StepResult(number, title)
            results.append(result)
            self.say(f"{number}. {title}")
            aws_before, docusign_before = self.aws_requests(), self.docusign_requests()
            started = time.monotonic()
            try:
                step()
                result.verified = True
            except NotVerified as failed:
                result.failure = str(failed)
                self.say(f"     NOT VERIFIED: {failed}")
            except Exception as exc:  # noqa: BLE001 - a step that broke is reported as not verified
                result.failure = f"{type(exc).__name__}: {exc}"
                self.say(f"     NOT VERIFIED: the step broke: {result.failure}")
            result.seconds = time.monotonic() - started
            result.aws = _by_function(aws_before, self.aws_requests())
            result.docusign = self.docusign_requests() - docusign_before
            self.say(
                f"     {'verified' if result.verified else 'failed'} in {result.seconds:.1f} s;"
                f" dealwire asked AWS {sum(result.aws.values())} and DocuSign {result.docusign} times"
            )
            if not result.verified:
                break  # the next steps build on this one
            time.sleep(self.pause)
        return results


def _progress_is(progress: str, tracker: dict[str, Any]) -> bool:
    return tracker.get("progress") == progress


def _by_function(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, int]:
    """Requests dealwire's functions made between the two counts, by function."""
    spent: dict[str, int] = {}
    for caller, calls in after.items():
        if caller in {"local", PRESIGNED}:
            continue
        count = sum(calls.values()) - sum(before.get(caller, {}).values())
        if count:
            spent[caller] = count
    return spent


def summary(results: Sequence[StepResult], total_steps: int) -> Iterator[str]:
    width = max(len(r.title) for r in results)
    yield f"{'':2} {'step':<{width}}  {'result':<8} {'seconds':>7} {'AWS':>5} {'DocuSign':>8}"
    for r in results:
        result = "verified" if r.verified else "FAILED"
        aws = sum(r.aws.values())
        yield f"{r.number:>2} {r.title:<{width}}  {result:<8} {r.seconds:>7.1f} {aws:>5} {r.docusign:>8}"
    for number in range(len(results) + 1, total_steps + 1):
        yield f"{number:>2} {'(not run)':<{width}}"
    total_aws = sum(sum(r.aws.values()) for r in results)
    seconds, docusign = sum(r.seconds for r in results), sum(r.docusign for r in results)
    yield f"{'':2} {'total':<{width}}  {'':<8} {seconds:>7.1f} {total_aws:>5} {docusign:>8}"
    functions: dict[str, int] = {}
    for r in results:
        for name, count in r.aws.items():
            functions[name] = functions.get(name, 0) + count
    yield "AWS requests by function: " + ", ".join(
        f"{name} {count}" for name, count in sorted(functions.items())
    )


def run(state: dict[str, Any], out: TextIO, *, pause: float = 0.0, own_stack: bool = False) -> int:
    point_at_stack(state)  # dealwire.store's key builders, for reading the table back
    story = Story(state, out, pause=pause)
    console = f"{state['console_url']}#token={state['api_token']}&deal={story.deal}"
    story.say(f"watch it in the console: {console}\n")
    try:
        results = story.tell()
    finally:
        story.close()
    story.say()
    for line in summary(results, len(story.steps())):
        story.say(line)
    verified = len(results) == len(story.steps()) and all(r.verified for r in results)
    if not verified:
        story.say("\nthe demo did not verify: see the step marked NOT VERIFIED above")
    elif own_stack:
        story.say(
            "\nevery step verified. The stack it started stops now; to look around after, `make run` and"
        )
        story.say(
            "then `make demo` in a second terminal: the console's link stays valid while `make run` is up."
        )
    else:
        story.say(f"\nevery step verified; the deal in the console: {console}")
    return 0 if verified else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state-file", type=Path, default=DEFAULT_STATE_FILE, help="a running make run's state"
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds to wait after each step and signature, to watch it in the console (default 0)",
    )
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        state = running_stack(args.state_file.resolve())
        directory: Path | None = None  # the stack's own, when the demo starts one
        if state is not None:
            print(f"using the local stack that is up (pid {state['pid']}, {args.state_file})", flush=True)
            state["state_file"] = str(args.state_file.resolve())
        else:
            print("no `make run` is up: starting the local stack on free ports ...", flush=True)
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dealwire-demo-")))
            started = time.monotonic()
            try:
                up = stack.enter_context(launched(directory))
            except LaunchFailed as exc:
                sys.stderr.write(f"make demo: {exc}\n")
                return 2
            state = dict(up.state, state_file=str(directory / "local.json"))
            print(f"up in {time.monotonic() - started:.1f} s, in {directory}", flush=True)
        code = run(state, sys.stdout, pause=args.pause, own_stack=directory is not None)
        if code and directory is not None:
            # Its log goes with its directory: the functions' tracebacks are in its end.
            log = Path(directory, "stack.log").read_text(errors="replace").splitlines()
            sys.stderr.write("the local stack's log, its end:\n" + "\n".join(log[-60:]) + "\n")
        return code


if __name__ == "__main__":
    sys.exit(main())
