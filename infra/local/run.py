"""`make run`: the whole system on loopback: moto server, function workers, HTTP gateway, stream pollers."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import yaml

from infra.local import moto_dynamodb
from infra.local.api_docs import OPENAPI, swagger_page
from infra.local.aws_requests import AWS_REQUESTS_PATH, CountingMotoServer
from infra.local.console_files import CONSOLE_HEADERS, CONSOLE_PATH, console_files
from infra.local.gateway import Gateway
from infra.local.jwt_issuer import JWKS_PATH, Issuer, JwtAuthorizer, load_or_create_key
from infra.local.offline import go_offline
from infra.local.queues import QueuePoller, start_queue_pollers, start_rule_routes
from infra.local.resources import create_resources
from infra.local.schedules import Scheduler
from infra.local.smtp import SmtpEdge
from infra.local.streams import start_pollers
from infra.local.template import ROOT, Stack, load_template
from infra.local.worker import (
    ACCOUNT_ID,
    FunctionWorker,
    InvocationError,
    function_settings,
    lambda_environment,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from types import FrameType

    from infra.local.streams import Invoker, StreamPoller

log = logging.getLogger("dealwire.local")

STACK_NAME = "dealwire-local"
REGION = "us-east-1"
STAGE = "local"
DEFAULT_STATE_FILE = ROOT / ".dealwire" / "local.json"
# The account of the sample messages in tests/events/docusign, so the README's curl
# examples can post those files unchanged to the seeded tenant.
DEV_ACCOUNT_ID = "9f1c2a7e-3b4d-4c5e-8f6a-1b2c3d4e5f60"
# The simulator's integration and the user dealwire impersonates in it.
DEV_INTEGRATION_KEY = "00000000-0000-4000-8000-0000dea1c11e"
DEV_USER_ID = "00000000-0000-4000-8000-00000000005e"
# The CRM's user the dev tokens name; the admin token connects the tenant at start-up.
DEV_CRM_USER = "user-1"
# Smart BCC locally: <tenant>@MAIL_DOMAIN, a user who may file mail, and one contact with an open deal.
MAIL_DOMAIN = "bcc.dealwire.localhost"
DEV_USER_EMAIL = "dev.user@dealwire.localhost"
DEV_CONTACT_EMAIL = "carla@customer.localhost"
# The dev issuer's signing key, kept beside the state file so dev tokens survive a restart.
ISSUER_KEY_FILE = "jwt-issuer.pem"
# The automation rule seeded for the default pipeline (a POST /v1/automation-rules body).
SEEDED_RULE_FILE = Path(__file__).with_name("rules.yaml")
NO_STORE = (("Cache-Control", "no-store"),)


class StartupError(RuntimeError):
    """The stack cannot start (a port is taken, a function fails its cold start...)."""


def _port(variable: str, default: int) -> int:
    raw = os.environ.get(variable, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise StartupError(f"{variable}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise StartupError(f"{variable}={port} is not a port number")
    return port


def running_stack(state_file: Path) -> dict[str, Any] | None:
    """The state of a `make run` still up with this state file, or None.

    The file outlives the stack that wrote it; a stack is up when the process it names
    is alive and is a `python -m infra.local.run` (a pid reused since is not one).
    """
    try:
        state: dict[str, Any] = json.loads(state_file.read_text())
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return state if b"infra.local.run" in command else None


def _require_free(port: int, variable: str) -> None:
    """Fail clearly now: moto's server thread would otherwise hang on a taken port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers themselves do, so a port in TIME_WAIT still counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} on 127.0.0.1 is taken (is another `make run` up?); "
                    f"free it or choose another with {variable}=<port>"
                ) from None
            raise


def _expected(answer: Any, what: str) -> dict[str, Any]:  # noqa: ANN401 - an httpx.Response
    """The JSON of a 200 answer; anything else stops the start-up, saying what failed."""
    if answer.status_code != 200:
        raise StartupError(f"{what}: {answer.status_code} {answer.text[:300]}")
    body: dict[str, Any] = answer.json()
    return body


def _single(stack: Stack, kind: str) -> str:
    found = list(stack.resources(kind))
    if len(found) != 1:
        raise StartupError(f"the local stack expects one {kind} in template.yaml, found {found}")
    return found[0]


def _event_sources(stack: Stack) -> list[str]:
    sources = {
        stack.function_environment(logical).get("DEALWIRE_EVENT_SOURCE")
        for logical in stack.resources("AWS::Serverless::Function")
    }
    return sorted(source for source in sources if source) or ["dealwire"]


def _bus_tap(stack: Stack, endpoint_url: str, bus_name: str) -> str:
    """A queue that receives every dealwire event on the bus, so published events can be seen."""
    sqs = boto3.client("sqs", region_name=stack.region, endpoint_url=endpoint_url)
    events = boto3.client("events", region_name=stack.region, endpoint_url=endpoint_url)
    name = f"{stack.name}-bus-tap"
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name=name, EventBusName=bus_name, EventPattern=json.dumps({"source": _event_sources(stack)})
    )
    events.put_targets(Rule=name, EventBusName=bus_name, Targets=[{"Id": "bus-tap", "Arn": arn}])
    return url


def _write_state(path: Path, state: dict[str, Any]) -> None:
    """Atomically: whoever waits for the file never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(state, indent=2) + "\n")
    partial.replace(path)


class LocalStack:
    """Everything `make run` starts, in start order; ``close`` stops it in reverse."""

    def __init__(
        self,
        http_port: int,
        aws_port: int,
        state_file: Path,
        docusign_port: int = 8080,
        smtp_port: int = 2525,
    ) -> None:
        self.http_port = http_port
        self.smtp_port = smtp_port
        self.smtp: SmtpEdge | None = None
        self.aws_port = aws_port
        self.docusign_port = docusign_port
        self.state_file = state_file
        self.endpoint_url = f"http://127.0.0.1:{aws_port}"
        self.docusign_url = f"http://127.0.0.1:{docusign_port}"
        # DocuSign is the simulator: the functions' auth host is resolved from the template.
        self.stack = Stack(
            name=STACK_NAME,
            region=REGION,
            template=load_template(),
            parameters={
                "Stage": STAGE,
                "DocuSignAuthHost": self.docusign_url,
                "MailDomain": MAIL_DOMAIN,
                # The gateway plays API Gateway's JWT authorizer over the local issuer.
                "ApiJwtIssuer": f"http://127.0.0.1:{http_port}",
                # Connecting the tenant writes the gateway's webhook into the simulator's
                # Connect configuration; after consent DocuSign sends the admin to the API docs.
                "WebhookBaseUrl": f"http://127.0.0.1:{http_port}",
                "DocuSignConsentRedirectUri": f"http://127.0.0.1:{http_port}/docs",
            },
        )
        self.issuer: Issuer | None = None
        self.simulator: Any = None
        self.queue_pollers: list[QueuePoller] = []
        # The queues standing in for EventBridge's delivery to each rule's function.
        self.rule_routes: list[QueuePoller] = []
        self.scheduler: Scheduler | None = None
        self.stop = threading.Event()
        self.workers: dict[str, FunctionWorker] = {}
        self.pollers: list[StreamPoller] = []
        # What every stream poller has consumed is dropped from moto's stream shard.
        self.checkpoints = moto_dynamodb.StreamCheckpoints()
        self.gateway: Gateway | None = None
        self._moto: CountingMotoServer | None = None

    def start(self) -> dict[str, Any]:
        _require_free(self.aws_port, "DEALWIRE_AWS_PORT")
        _require_free(self.http_port, "DEALWIRE_HTTP_PORT")
        _require_free(self.docusign_port, "DEALWIRE_DOCUSIGN_PORT")
        _require_free(self.smtp_port, "DEALWIRE_SMTP_PORT")
        # Before the server starts: moto's DynamoDB as it is degrades with every write (see the module).
        moto_dynamodb.install()
        self._moto = CountingMotoServer("127.0.0.1", self.aws_port)
        self._moto.start()
        log.info("moto server on %s", self.endpoint_url)

        stack = self.stack
        stream_arns = create_resources(stack, self.endpoint_url)
        tenant_id = stack.parameter("DefaultTenantId")
        self._start_docusign(stack)
        bus_name = stack.physical_name(_single(stack, "AWS::Events::EventBus"))
        tap_url = _bus_tap(stack, self.endpoint_url, bus_name)

        # Cold starts in parallel: each worker imports its handler (and boto3) on its own.
        with ThreadPoolExecutor() as pool:
            started = {
                logical: pool.submit(self._start_worker, logical)
                for logical in stack.resources("AWS::Serverless::Function")
            }
        failure: InvocationError | None = None
        for logical, future in started.items():
            try:
                self.workers[logical] = future.result()
            except InvocationError as exc:
                # Keep the others, so close() stops them too; report the first failure.
                failure = failure or exc
        if failure is not None:
            raise failure
        invokers: dict[str, Invoker] = dict(self.workers)
        try:
            self.gateway = Gateway(
                stack.http_routes(),
                invokers,
                self.http_port,
                authorizer=self._authorizer(),
                pages=self._pages(),
            )
        except OSError as exc:
            raise StartupError(f"the gateway cannot listen on 127.0.0.1:{self.http_port}: {exc}") from exc
        self.gateway.start()
        self.pollers = start_pollers(
            stack, invokers, stream_arns, self.endpoint_url, self.stop, checkpoints=self.checkpoints
        )
        self.queue_pollers = start_queue_pollers(stack, invokers, self.endpoint_url, self.stop)
        self.rule_routes = start_rule_routes(stack, invokers, self.endpoint_url, bus_name, self.stop)
        self.queue_pollers += self.rule_routes
        self.scheduler = Scheduler(stack, invokers, self.stop)
        self.scheduler.start()
        self._seed_crm(tenant_id)
        hmac_keys = self._connect_tenant(tenant_id)
        rule_id = self._seed_rule(tenant_id)
        self.smtp = SmtpEdge(
            port=self.smtp_port,
            accepted={f"{tenant_id}@{MAIL_DOMAIN}"},
            bucket=stack.function_environment("MailIngestFunction")["DEALWIRE_MAIL_BUCKET"],
            prefix=stack.function_environment("MailIngestFunction")["DEALWIRE_MAIL_RAW_PREFIX"],
            region=stack.region,
            endpoint_url=self.endpoint_url,
            invoker=invokers["MailIngestFunction"],
            function_arn=(
                f"arn:aws:lambda:{stack.region}:{ACCOUNT_ID}:function:{stack.physical_name('MailIngestFunction')}"
            ),
        )
        self.smtp.start()
        log.info("SMTP edge on 127.0.0.1:%d for %s@%s", self.smtp_port, tenant_id, MAIL_DOMAIN)

        state = self._state(self.gateway, tenant_id, hmac_keys, bus_name, tap_url)
        state["automation_rule_id"] = rule_id
        _write_state(self.state_file, state)
        return state

    def _authorizer(self) -> JwtAuthorizer:
        """The template's JWT authorizer (issuer and audience are its parameters) over the dev issuer."""
        issuer = Issuer(
            url=self.stack.parameter("ApiJwtIssuer"),
            audience=self.stack.parameter("ApiJwtAudience"),
            key=load_or_create_key(self.state_file.parent / ISSUER_KEY_FILE),
        )
        self.issuer = issuer
        return JwtAuthorizer(issuer.url, (issuer.audience,), issuer.jwks())

    def _pages(self) -> dict[str, Any]:
        """What the gateway serves itself: the issuer's JWKS, the API's OpenAPI document and its
        docs, and the console (its files read once, at start)."""
        document = json.loads(OPENAPI.read_text())
        jwks = json.dumps(self.issuer.jwks() if self.issuer else {"keys": []}).encode()
        spec = json.dumps(document).encode()
        page = swagger_page(document)
        pages: dict[str, Any] = {
            JWKS_PATH: lambda: (200, "application/json", jwks, ()),
            "/openapi.json": lambda: (200, "application/json", spec, ()),
            "/docs": lambda: (200, "text/html; charset=utf-8", page, ()),
        }
        pages[AWS_REQUESTS_PATH] = lambda: (200, "application/json", self._aws_requests(), NO_STORE)
        for path, (content_type, content) in console_files().items():
            pages[path] = lambda content_type=content_type, content=content: (
                200,
                content_type,
                content,
                CONSOLE_HEADERS,
            )
        return pages

    def _aws_requests(self) -> bytes:
        counter = self._moto.counter if self._moto is not None else None
        return json.dumps(counter.snapshot() if counter is not None else {}).encode()

    def _seed_crm(self, tenant_id: str) -> None:
        """One user who may file mail, and a contact with one open deal, through crm_projection."""
        seeds: list[tuple[str, dict[str, Any]]] = [
            (
                "user.upserted",
                {
                    "userId": DEV_CRM_USER,
                    "name": "Dev User",
                    "email": DEV_USER_EMAIL,
                    "mailSharing": "shared",
                },
            ),
            (
                "person.upserted",
                {"personId": "person-1", "name": "Carla Customer", "emails": [DEV_CONTACT_EMAIL]},
            ),
            (
                "deal.upserted",
                {"dealId": "deal-1", "title": "First deal", "status": "open", "personIds": ["person-1"]},
            ),
        ]
        source = str(self.stack.parameter("CrmEventSource"))
        for detail_type, detail in seeds:
            self.workers["CrmProjectionFunction"].invoke(
                {
                    "id": f"seed-{detail_type}",
                    "source": source,
                    "detail-type": detail_type,
                    "detail": {"tenantId": tenant_id, "updatedAt": "2026-01-01T00:00:00Z", **detail},
                }
            )

    def _start_docusign(self, stack: Stack) -> None:
        """The DocuSign simulator as a fresh account (no Connect configuration, no HMAC key: the
        tenant's connection makes them), and the integration's key pair."""
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

        from infra.docusign_sim import Simulator  # noqa: PLC0415

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        secret = stack.function_environment("DocumentFetchFunction")["DEALWIRE_DOCUSIGN_APP_SECRET"]
        boto3.client(
            "secretsmanager", region_name=stack.region, endpoint_url=self.endpoint_url
        ).create_secret(
            Name=secret,
            SecretString=json.dumps({"integrationKey": DEV_INTEGRATION_KEY, "privateKey": private_pem}),
        )
        self.simulator = Simulator(
            account_id=DEV_ACCOUNT_ID,
            integration_key=DEV_INTEGRATION_KEY,
            user_id=DEV_USER_ID,
            public_key_pem=public_pem,
            port=self.docusign_port,
        )
        self.simulator.start()
        log.info("DocuSign simulator on %s", self.simulator.url)

    def _connect_tenant(self, tenant_id: str) -> list[str]:
        """The seeded tenant connected as its admin would: through the API, DocuSign's consent
        page, and back; gives the HMAC keys DocuSign generated (for signing by hand)."""
        import httpx  # noqa: PLC0415

        if self.gateway is None or self.issuer is None:
            raise StartupError("the gateway must be up before the tenant is connected")
        token = self.issuer.token(user=DEV_CRM_USER, tenant=tenant_id, role="admin")
        route = f"{self.gateway.url}/v1/integrations/docusign"
        with httpx.Client(trust_env=False, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
            started = _expected(http.post(route), "starting the DocuSign connection")
            consent = http.get(str(started["consentUrl"]))
            if consent.status_code != 302:
                raise StartupError(f"the simulator's consent page answered {consent.status_code}")
            health = _expected(
                http.post(f"{route}/complete", json={"state": started["state"], "userId": DEV_USER_ID}),
                "completing the DocuSign connection",
            )
        log.info("tenant %s connected to DocuSign (%s)", tenant_id, health["connectConfigurationId"])
        prefix = self.stack.function_environment("IntegrationsFunction")["DEALWIRE_TENANT_SECRET_PREFIX"]
        secret = boto3.client(
            "secretsmanager", region_name=self.stack.region, endpoint_url=self.endpoint_url
        ).get_secret_value(SecretId=prefix + tenant_id)
        return [str(entry["key"]) for entry in json.loads(secret["SecretString"])["hmacKeys"]]

    def _seed_rule(self, tenant_id: str) -> str:
        """The rule of ``rules.yaml``, created through the API as the tenant's admin would; its id."""
        import httpx  # noqa: PLC0415

        if self.gateway is None or self.issuer is None:
            raise StartupError("the gateway must be up before a rule is seeded")
        definition = yaml.safe_load(SEEDED_RULE_FILE.read_text())
        if not isinstance(definition, dict):
            raise StartupError(f"{SEEDED_RULE_FILE.name} must hold one rule (a mapping)")
        token = self.issuer.token(user=DEV_CRM_USER, tenant=tenant_id, role="admin")
        answer = httpx.post(
            f"{self.gateway.url}/v1/automation-rules",
            json=definition,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            trust_env=False,
        )
        rule = _expected(answer, f"seeding the automation rule of {SEEDED_RULE_FILE.name}")
        log.info("automation rule %s seeded (%s)", rule["ruleId"], rule["name"])
        return str(rule["ruleId"])

    def _start_worker(self, logical: str) -> FunctionWorker:
        stack = self.stack
        timeout, _ = function_settings(stack, logical)
        handler = stack.function_handler(logical)
        log.info("starting %s (%s)", logical, handler)
        return FunctionWorker(
            logical, handler, lambda_environment(stack, logical, self.endpoint_url), timeout_seconds=timeout
        )

    def _state(
        self, gateway: Gateway, tenant_id: str, hmac_keys: list[str], bus_name: str, tap_url: str
    ) -> dict[str, Any]:
        stack = self.stack
        sqs = boto3.client("sqs", region_name=stack.region, endpoint_url=self.endpoint_url)
        settings: dict[str, str] = {}
        for logical in stack.resources("AWS::Serverless::Function"):
            settings.update(stack.function_environment(logical))

        def queue_url(stack_url_or_arn: str) -> str:
            # The template's URL or ARN names the queue; moto's own URL is the one to use here.
            name = stack_url_or_arn.replace(":", "/").rsplit("/", 1)[1]
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])

        failure_queues = [
            queue_url(str(stack.resolve(destination)))
            for _, _, properties in stack.stream_mappings()
            if (
                destination := properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            )
        ]
        return {
            "stack_name": stack.name,
            # What `python -m infra.local.tick` needs to resolve the template as this stack did.
            "stack_parameters": dict(stack.parameters),
            "pid": os.getpid(),
            "http_url": gateway.url,
            "api_url": f"{gateway.url}/v1",
            "api_token": self.issuer.token(user=DEV_CRM_USER, tenant=tenant_id) if self.issuer else None,
            "admin_token": (
                self.issuer.token(user=DEV_CRM_USER, tenant=tenant_id, role="admin") if self.issuer else None
            ),
            "api_docs_url": f"{gateway.url}/docs",
            "console_url": f"{gateway.url}{CONSOLE_PATH}",
            "jwt_issuer": self.issuer.url if self.issuer else None,
            "jwt_audience": self.issuer.audience if self.issuer else None,
            "jwt_key_file": str(self.state_file.parent / ISSUER_KEY_FILE),
            "webhook_url": f"{gateway.url}/webhooks/docusign",
            "aws_endpoint_url": self.endpoint_url,
            "region": stack.region,
            "tenant_id": tenant_id,
            "docusign_account_id": DEV_ACCOUNT_ID,
            "docusign_hmac_keys": hmac_keys,
            "table_name": settings["DEALWIRE_TABLE_NAME"],
            "documents_bucket": settings["DEALWIRE_DOCUMENTS_BUCKET"],
            "event_bus_name": bus_name,
            "crm_event_source": str(stack.parameter("CrmEventSource")),
            "document_queue_url": queue_url(settings["DEALWIRE_DOCUMENT_QUEUE_URL"]),
            "bus_tap_queue_url": tap_url,
            # Where the bus delivers each EventBridge-triggered function's events: a message
            # sent here again is EventBridge delivering the same event again.
            "rule_queue_urls": {
                function: [route.queue_url for route in self.rule_routes if route.function == function]
                for function in sorted({route.function for route in self.rule_routes})
            },
            "stream_failure_queue_url": failure_queues[0] if failure_queues else None,
            "docusign_url": self.docusign_url,
            "docusign_integration_key": DEV_INTEGRATION_KEY,
            "docusign_app_secret": settings["DEALWIRE_DOCUSIGN_APP_SECRET"],
            "docusign_user_id": DEV_USER_ID,
            "smtp_host": "127.0.0.1",
            "smtp_port": self.smtp_port,
            "bcc_address": f"{tenant_id}@{MAIL_DOMAIN}",
            "user_email": DEV_USER_EMAIL,
            "contact_email": DEV_CONTACT_EMAIL,
            "mail_bucket": settings["DEALWIRE_MAIL_BUCKET"],
        }

    def close(self) -> None:
        self.stop.set()
        if self.smtp is not None:
            self.smtp.close()
        for poller in self.pollers:
            poller.join(10)
        for queue_poller in self.queue_pollers:
            queue_poller.join(10)
        if self.scheduler is not None:
            self.scheduler.join(10)
        if self.simulator is not None:
            self.simulator.stop()
        if self.gateway is not None:
            self.gateway.close()
        for worker in self.workers.values():
            worker.close()
        if self._moto is not None:
            self._moto.stop()


def _banner(state: dict[str, Any]) -> Iterator[str]:
    """What a newcomer needs once the stack is up, one aligned row per thing to reach."""
    token = f"import json; print(json.load(open('{state['state_file']}'))['api_token'])"
    rows = [
        ("CRM API", f"{state['api_url']}   docs {state['api_docs_url']}"),
        ("dev token", f'python3 -c "{token}"   (or python -m infra.local.token --help)'),
        ("webhook", f"POST {state['webhook_url']}"),
        ("Smart BCC", f"{state['bcc_address']}   over SMTP {state['smtp_host']}:{state['smtp_port']}"),
        ("DocuSign sim", f"{state['docusign_url']}   (control API under /_sim/)"),
        ("DocuSign", f"account {state['docusign_account_id']}, HMAC key {state['docusign_hmac_keys'][0]}"),
        ("AWS (moto)", f"{state['aws_endpoint_url']}   region {state['region']}"),
        ("state", str(state["state_file"])),
    ]
    width = max(len(name) for name, _ in rows)
    yield f"dealwire local stack is up, tenant {state['tenant_id']!r}"
    yield from (f"  {name:<{width}}  {value}" for name, value in rows)
    yield "The console (the deals, their envelopes, trackers and threads; the token is in the link):"
    yield f"  {state['console_url']}#token={state['api_token']}"
    yield "Next: `make demo` in a second terminal tells dealwire's whole story while the console watches;"
    yield "      python -m infra.local.show envelope <envelopeId>  |  python -m infra.local.show events"
    yield "      python -m infra.local.tick status_poll  (reconcile now; the poller runs every 15 minutes)"
    yield "Ctrl-C stops everything."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.run", description=__doc__)
    parser.add_argument(
        "--state-file",
        type=Path,
        default=DEFAULT_STATE_FILE,
        help=f"where to write the running stack's URLs, names and dev key (default {DEFAULT_STATE_FILE})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    go_offline()  # this process talks to moto only

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    running = running_stack(args.state_file.resolve())
    if running is not None:
        sys.stderr.write(
            f"make run: a stack is already up (pid {running['pid']}): its URLs are in {args.state_file}"
            f" (webhook {running.get('webhook_url', '?')}). Use it, or stop it with Ctrl-C in its"
            f" terminal or kill -INT {running['pid']}.\n"
        )
        return 2
    try:
        http_port = _port("DEALWIRE_HTTP_PORT", 3000)
        aws_port = _port("DEALWIRE_AWS_PORT", 5000)
        docusign_port = _port("DEALWIRE_DOCUSIGN_PORT", 8080)
        smtp_port = _port("DEALWIRE_SMTP_PORT", 2525)
    except StartupError as exc:
        sys.stderr.write(f"make run: {exc}\n")
        return 2
    local = LocalStack(http_port, aws_port, args.state_file.resolve(), docusign_port, smtp_port)
    try:
        started = time.monotonic()
        state = local.start()
        state["state_file"] = str(local.state_file)
        log.info("ready in %.1f s", time.monotonic() - started)
        print("\n".join(_banner(state)), flush=True)
        while not stop.wait(1.0):
            pass
    except (StartupError, InvocationError) as exc:
        sys.stderr.write(f"make run: {exc}\n")
        return 1
    finally:
        local.close()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
