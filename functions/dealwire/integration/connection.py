"""A tenant's DocuSign connection, made and kept through DocuSign's API: no key is copied by a person.

Connecting: the admin consents on DocuSign's page (``start`` gives the URL and a one-time
state), then ``complete`` proves the JWT grant works, reads the user's accounts, records
the account, stores an HMAC key DocuSign generates, and creates (or repairs) the account's
Connect configuration. Every step can be run again: a key DocuSign still has is kept, and
dealwire's configuration is updated, never duplicated.

Rotating: a new key is added (DocuSign then signs with both); once a callback is verified
with it (the webhook records it; the stream tells ``finish_rotation``), the old key is
deleted at DocuSign and in the secret. A webhook container still holding the old secret
fetches it again when a signature fails, so no callback is refused at any point.

Each change of the secret happens under the tenant's lease, read fresh, amended, written whole.
"""

from __future__ import annotations

import secrets
import time
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from dealwire.api.errors import Conflict, InvalidRequest, NotFound, Unavailable, with_docusign
from dealwire.contracts.integrations import (
    BudgetView,
    ConsentStarted,
    Disconnected,
    FailureView,
    Finding,
    IntegrationStatus,
    PollView,
    RotationStarted,
    RotationView,
)
from dealwire.integration import health
from dealwire.integration.configuration import desired, ours
from dealwire.store.tenants import HmacKey, TenantConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from dealwire.contracts.integrations import CompleteRequest
    from dealwire.docusign.client import DocuSignClient
    from dealwire.docusign.connect_admin import AccountHmacKey, ConnectAdmin
    from dealwire.settings import IntegrationsSettings
    from dealwire.store.docusign_app import DocuSignAccess
    from dealwire.store.integrations import IntegrationStore
    from dealwire.store.polling import PollStateStore
    from dealwire.store.tenant_secrets import TenantSecrets

LEASE_SECONDS: Final = 60
FAILURE_DAYS: Final = 7
MAX_FAILURES_SHOWN: Final = 5


def _now_iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class DocuSignConnection:
    def __init__(
        self,
        *,
        access: DocuSignAccess,
        secrets_store: TenantSecrets,
        store: IntegrationStore,
        redirect_uri: str,
        clock: Callable[[], float] = time.time,
        new_state: Callable[[], str] = lambda: secrets.token_urlsafe(24),
        admin: Callable[[DocuSignClient], ConnectAdmin] | None = None,
        polls: PollStateStore | None = None,
    ) -> None:
        """``polls``: where the status poller keeps its last cycle, shown by the health check."""
        self._access = access
        self._secrets = secrets_store
        self._store = store
        self._redirect_uri = redirect_uri
        self._clock = clock
        self._new_state = new_state
        self._admin = admin or _connect_admin
        self._polls = polls

    @classmethod
    def from_settings(cls, settings: IntegrationsSettings) -> DocuSignConnection:
        """As the integrations function and the operator's CLI both configure it."""
        from dealwire.store.docusign_app import DocuSignAccess  # noqa: PLC0415 - boto3, on first use
        from dealwire.store.integrations import IntegrationStore  # noqa: PLC0415
        from dealwire.store.polling import PollStateStore  # noqa: PLC0415
        from dealwire.store.tenant_secrets import TenantSecrets  # noqa: PLC0415

        return cls(
            access=DocuSignAccess(
                settings.docusign_app_secret, settings.docusign_auth_host, settings.docusign_base_uri or None
            ),
            secrets_store=TenantSecrets(
                settings.tenant_secret_prefix, kms_key_id=settings.secrets_kms_key_id
            ),
            store=IntegrationStore(settings.table_name),
            redirect_uri=settings.consent_redirect_uri,
            polls=PollStateStore(settings.table_name),
        )

    # -- connecting ------------------------------------------------------------------------

    def start(self, tenant_id: str, user_id: str) -> ConsentStarted:
        """The consent page to send the admin to, and the one-time state that comes back."""
        from dealwire.docusign.client import consent_url  # noqa: PLC0415 - httpx, pyjwt

        integration_key = self._app_integration_key()
        state = self._new_state()
        expires = self._store.put_consent_state(tenant_id, state, user_id=user_id, now=self._clock())
        return ConsentStarted(
            consent_url=consent_url(
                _auth_url(self._access.auth_host), integration_key, self._redirect_uri, state
            ),
            state=state,
            expires_at=_now_iso(expires),
        )

    def complete(
        self, tenant_id: str, user_id: str, request: CompleteRequest, webhook_url: str
    ) -> IntegrationStatus:
        """Finish what ``start`` began: prove the grant, record the account, the key and the configuration."""
        started = self._store.consent_state(tenant_id, request.state, now=self._clock())
        if started is None:
            raise InvalidRequest(
                "state: unknown or expired (a consent is good for 15 minutes): start again",
                code="invalid_state",
            )
        if started.get("started_by") != user_id:
            raise InvalidRequest(
                "state: another user started this consent; complete it as them, or start again",
                code="invalid_state",
            )
        self.connect(tenant_id, user_id, request.user_id, request.account_id, webhook_url)
        self._store.drop_consent_state(tenant_id, request.state)
        return self.status(tenant_id, webhook_url)

    def connect(
        self, tenant_id: str, by: str, docusign_user_id: str, account_id: str | None, webhook_url: str
    ) -> str:
        """Connect (or repair) the tenant as ``docusign_user_id``; gives the configuration's id."""
        probe = self._access.client(docusign_user_id, account_id or "")
        info = with_docusign(probe.userinfo)
        account = info.account(account_id)
        if account is None:
            accounts = ", ".join(f"{a.account_id} ({a.account_name})" for a in info.accounts) or "none"
            raise InvalidRequest(
                f"accountId: the DocuSign user {docusign_user_id} has no account "
                f"{account_id or '(default)'}; their accounts: {accounts}",
                code="unknown_account",
            )
        client = self._access.client(docusign_user_id, account.account_id, account.base_uri)
        admin = self._admin(client)
        with self._lease(tenant_id):
            document = self._read(tenant_id)
            document.update(
                {
                    "docusignAccountId": account.account_id,
                    "docusignUserId": docusign_user_id,
                    "docusignBaseUri": account.base_uri,
                }
            )
            self._secrets.write(tenant_id, document)
            self._ensure_key(tenant_id, document, admin)
            connect_id = self._ensure_configuration(tenant_id, document, admin, webhook_url)
        self._store.record_connected(
            tenant_id,
            account_id=account.account_id,
            user_id=docusign_user_id,
            connect_id=connect_id,
            by=by,
            at=_now_iso(self._clock()),
        )
        return connect_id

    def _ensure_key(self, tenant_id: str, document: dict[str, Any], admin: ConnectAdmin) -> None:
        """Keep the stored keys DocuSign still has; when none is left, have DocuSign make one."""
        listed = with_docusign(admin.hmac_keys)
        kept = [key for key in _keys(document) if _listed_as(key, listed) is not None]
        if kept:
            document["hmacKeys"] = [_stored(key) for key in kept]
        else:
            created = with_docusign(admin.create_hmac_key)
            document["hmacKeys"] = [
                {"key": created.shown, "keyId": created.key_id, "state": "active", "addedAt": self._iso()}
            ]
        # Stored at once: DocuSign shows a new key only in the answer that created it.
        self._secrets.write(tenant_id, document)

    def _ensure_configuration(
        self, tenant_id: str, document: dict[str, Any], admin: ConnectAdmin, webhook_url: str
    ) -> str:
        configurations = with_docusign(admin.configurations)
        mine = ours(configurations, document.get("connectConfigurationId"), webhook_url)
        wanted = desired(webhook_url, mine)
        saved = with_docusign(lambda: admin.update(wanted) if mine else admin.create(wanted))
        connect_id = saved.connect_id or (mine.connect_id if mine else None)
        if not connect_id:
            raise Unavailable("DocuSign created the Connect configuration but gave no connectId")
        document["connectConfigurationId"] = connect_id
        self._secrets.write(tenant_id, document)
        return connect_id

    # -- the health check ---------------------------------------------------------------------

    def status(self, tenant_id: str, webhook_url: str) -> IntegrationStatus:
        document = self._secrets.read(tenant_id) or {}
        integration = self._store.integration(tenant_id) or {}
        user_id, account_id = document.get("docusignUserId"), document.get("docusignAccountId")
        if not user_id or not account_id:
            return IntegrationStatus(
                tenant_id=tenant_id,
                state="not_connected",
                webhook_url=webhook_url,
                findings=[
                    Finding(
                        code="not_connected",
                        severity="error",
                        message="the account is not connected to DocuSign",
                        action="connect: POST /v1/integrations/docusign, then .../complete",
                    )
                ],
            )
        observed = self._observe(tenant_id, document, integration, webhook_url)
        found = health.findings(observed)
        rotation = integration.get("rotation")
        return IntegrationStatus(
            tenant_id=tenant_id,
            state="needs_attention" if any(f.severity == "error" for f in found) else "connected",
            account_id=account_id,
            docusign_user_id=user_id,
            base_uri=document.get("docusignBaseUri"),
            connect_configuration_id=document.get("connectConfigurationId"),
            webhook_url=webhook_url,
            connected_at=integration.get("connected_at"),
            connected_by=integration.get("connected_by"),
            last_callback_at=integration.get("last_callback_at"),
            keys=health.key_views(observed),
            rotation=RotationView.model_validate(rotation) if isinstance(rotation, dict) else None,
            api_budget=BudgetView(
                limit=observed.budget_limit,
                remaining=observed.budget_remaining,
                reset_at=observed.budget_reset_at,
            )
            if observed.budget_limit is not None
            else None,
            last_poll=PollView.model_validate(observed.last_poll) if observed.last_poll else None,
            recent_failures=[
                FailureView(
                    envelope_id=f.envelope_id, created=f.created, error=f.error, retry_count=f.retry_count
                )
                for f in sorted(observed.failures or [], key=lambda f: f.created or "", reverse=True)[
                    :MAX_FAILURES_SHOWN
                ]
            ],
            findings=found,
        )

    def _observe(
        self, tenant_id: str, document: dict[str, Any], integration: dict[str, Any], webhook_url: str
    ) -> health.Observed:
        from dealwire.docusign.errors import ConsentRequired, DocuSignError  # noqa: PLC0415

        polled = self._polls.state(tenant_id) if self._polls is not None else None
        observed = health.Observed(
            keys=_keys(document),
            connect_id=document.get("connectConfigurationId"),
            webhook_url=webhook_url,
            integration=integration,
            now=datetime.fromtimestamp(self._clock(), UTC),
            last_poll=polled.last_cycle if polled else None,
        )
        client = self._access.client(
            str(document["docusignUserId"]),
            str(document["docusignAccountId"]),
            document.get("docusignBaseUri"),
        )
        admin = self._admin(client)
        since = observed.now - timedelta(days=FAILURE_DAYS)
        try:
            configurations = admin.configurations()
            listed = admin.hmac_keys()
            failures = admin.failures(since)
        except ConsentRequired as exc:
            observed.problems.append(
                Finding(
                    code="consent_required",
                    severity="error",
                    message="the DocuSign user has withdrawn (or never gave) consent: dealwire cannot "
                    "call DocuSign",
                    action="connect again: POST /v1/integrations/docusign, then .../complete",
                    consent_url=exc.consent_url,
                )
            )
            return observed
        except DocuSignError as exc:
            observed.problems.append(
                Finding(
                    code="docusign_unavailable",
                    severity="warning",
                    message=f"DocuSign could not be asked: {exc}",
                    action="try again in a minute",
                )
            )
            return observed
        return replace(
            observed,
            configurations=configurations,
            listed_keys=listed,
            failures=failures,
            budget_limit=client.rate_limit.limit,
            budget_remaining=client.rate_limit.remaining,
            budget_reset_at=_now_iso(client.rate_limit.reset_at.timestamp())
            if client.rate_limit.reset_at
            else None,
        )

    # -- rotating the key ---------------------------------------------------------------------

    def rotate_key(self, tenant_id: str, by: str) -> RotationStarted:
        integration = self._store.integration(tenant_id) or {}
        rotation = integration.get("rotation")
        if isinstance(rotation, dict):
            raise Conflict(
                f"a rotation started {rotation.get('started_at')} is waiting for a callback signed with "
                "the new key; it ends with the next callback",
                code="rotation_in_progress",
            )
        client, document = self._connected(tenant_id)
        admin = self._admin(client)
        with self._lease(tenant_id):
            document = self._read(tenant_id)
            created = with_docusign(admin.create_hmac_key)
            at = self._iso()
            document["hmacKeys"] = [
                *(_stored(key) for key in _keys(document)),
                {"key": created.shown, "keyId": created.key_id, "state": "new", "addedAt": at},
            ]
            self._secrets.write(tenant_id, document)
            self._store.record_rotation_started(tenant_id, key_id=created.key_id, by=by, at=at)
        return RotationStarted(
            new_key_id=created.key_id,
            started_at=at,
            message="DocuSign now signs with the old and the new key; the old one is deleted once a "
            "callback is verified with the new one",
        )

    def rotation(self, tenant_id: str) -> RotationView | None:
        """The key rotation under way, if any."""
        rotation = (self._store.integration(tenant_id) or {}).get("rotation")
        return RotationView.model_validate(rotation) if isinstance(rotation, dict) else None

    def finish_rotation(self, tenant_id: str, key_id: str) -> bool:
        """Delete every key but ``key_id``, at DocuSign and in the secret, if a callback proved it."""
        integration = self._store.integration(tenant_id) or {}
        rotation = integration.get("rotation")
        if not isinstance(rotation, dict) or rotation.get("new_key_id") != key_id:
            return False
        if not rotation.get("verified_at"):
            return False
        client, _ = self._connected(tenant_id)
        admin = self._admin(client)
        with self._lease(tenant_id):
            document = self._read(tenant_id)
            keys = _keys(document)
            new = [key for key in keys if key.key_id == key_id]
            if not new:
                raise Conflict(
                    f"the rotation's key {key_id} is not in the tenant's secret", code="key_missing"
                )
            listed = with_docusign(admin.hmac_keys)
            for old in keys:
                if old.key_id == key_id:
                    continue
                found = _listed_as(old, listed)
                if found is not None:
                    self._delete_key(admin, found.key_id)
            document["hmacKeys"] = [{**_stored(new[0]), "state": "active"}]
            self._secrets.write(tenant_id, document)
            self._store.record_rotation_finished(tenant_id, key_id=key_id, at=self._iso())
        return True

    # -- disconnecting ------------------------------------------------------------------------

    def disconnect(self, tenant_id: str, by: str, webhook_url: str) -> Disconnected:
        """Remove the Connect configuration and the keys at DocuSign and in the secret; the data stays."""
        client, _ = self._connected(tenant_id)
        admin = self._admin(client)
        deleted_configuration, deleted_keys = False, 0
        with self._lease(tenant_id):
            document = self._read(tenant_id)
            configurations = with_docusign(admin.configurations)
            mine = ours(configurations, document.get("connectConfigurationId"), webhook_url)
            if mine is not None and mine.connect_id:
                with_docusign(lambda: admin.delete(str(mine.connect_id)))
                deleted_configuration = True
            listed = with_docusign(admin.hmac_keys)
            for key in _keys(document):
                found = _listed_as(key, listed)
                if found is not None:
                    self._delete_key(admin, found.key_id)
                    deleted_keys += 1
            for name in ("hmacKeys", "connectConfigurationId", "docusignUserId", "docusignBaseUri"):
                document.pop(name, None)
            self._secrets.write(tenant_id, document)
            at = self._iso()
            self._store.record_disconnected(tenant_id, by=by, at=at)
        return Disconnected(
            tenant_id=tenant_id,
            disconnected_at=at,
            configuration_deleted=deleted_configuration,
            keys_deleted=deleted_keys,
        )

    # -- helpers ----------------------------------------------------------------------------

    def _iso(self) -> str:
        return _now_iso(self._clock())

    def _app_integration_key(self) -> str:
        try:
            return self._access.app().integration_key
        except TenantConfigError as exc:
            raise Unavailable(f"dealwire's DocuSign integration is not set up: {exc}") from exc

    def _connected(self, tenant_id: str) -> tuple[DocuSignClient, dict[str, Any]]:
        document = self._secrets.read(tenant_id) or {}
        user_id, account_id = document.get("docusignUserId"), document.get("docusignAccountId")
        if not user_id or not account_id:
            raise Conflict("the account is not connected to DocuSign", code="not_connected")
        client = self._access.client(str(user_id), str(account_id), document.get("docusignBaseUri"))
        return client, document

    def _read(self, tenant_id: str) -> dict[str, Any]:
        try:
            return self._secrets.read(tenant_id) or {}
        except TenantConfigError as exc:
            raise Conflict(str(exc), code="secret_malformed") from exc

    @contextmanager
    def _lease(self, tenant_id: str) -> Iterator[None]:
        owner = secrets.token_hex(8)
        if not self._store.acquire(tenant_id, owner, seconds=LEASE_SECONDS, now=self._clock()):
            raise Conflict(
                "another change of the account's DocuSign set-up is under way; retry in a minute",
                code="busy",
            )
        try:
            yield
        finally:
            self._store.release(tenant_id, owner)

    @staticmethod
    def _delete_key(admin: ConnectAdmin, key_id: str) -> None:
        with suppress(NotFound):  # gone already: what deleting it was for
            with_docusign(lambda: admin.delete_hmac_key(key_id))


def _keys(document: dict[str, Any]) -> list[HmacKey]:
    return [HmacKey.model_validate(entry) for entry in document.get("hmacKeys") or [] if entry]


def _stored(key: HmacKey) -> dict[str, Any]:
    return {
        "key": key.key.get_secret_value(),
        **({"keyId": key.key_id} if key.key_id else {}),
        "state": key.state,
        **({"addedAt": key.added_at} if key.added_at else {}),
    }


def _listed_as(key: HmacKey, listed: list[AccountHmacKey]) -> AccountHmacKey | None:
    """DocuSign's entry for a stored key: by its id, else by what the listing shows of it."""
    by_id = next((entry for entry in listed if key.key_id and entry.key_id == key.key_id), None)
    return by_id or next((entry for entry in listed if entry.may_be(key.key.get_secret_value())), None)


def _auth_url(auth_host: str) -> str:
    host = auth_host.rstrip("/")
    return host if "://" in host else f"https://{host}"


def _connect_admin(client: DocuSignClient) -> ConnectAdmin:
    from dealwire.docusign.connect_admin import ConnectAdmin  # noqa: PLC0415 - httpx, pyjwt

    return ConnectAdmin(client)
