"""``SimulatorControl``: the simulator's ``/_sim/`` control API from Python, for tests and scripts."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode


class SimulatorControlError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"simulator answered {status}: {body[:500]}")
        self.status = status
        self.body = body


class SimulatorControl:
    """Drives a running simulator (in this process or another) over HTTP."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        # The simulator is on loopback: never through a proxy named in the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method: str, path: str, body: object = None) -> bytes:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            f"{self.url}/_sim/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            raise SimulatorControlError(exc.code, exc.read().decode("utf-8", "replace")) from exc

    def _json(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self._call(method, path, body))
        return answer

    # --- recipients and envelopes --------------------------------------------------------

    def _recipient(self, envelope_id: str, recipient_id: str, action: str, body: object) -> dict[str, Any]:
        return self._json(
            "POST", f"envelopes/{quote(envelope_id)}/recipients/{quote(recipient_id)}/{action}", body
        )

    def deliver(self, envelope_id: str, recipient_id: str) -> dict[str, Any]:
        """The recipient opens the envelope; ``{"envelope", "callbacks"}``."""
        return self._recipient(envelope_id, recipient_id, "deliver", {})

    def sign(self, envelope_id: str, recipient_id: str) -> dict[str, Any]:
        return self._recipient(envelope_id, recipient_id, "sign", {})

    def decline(self, envelope_id: str, recipient_id: str, reason: str) -> dict[str, Any]:
        return self._recipient(envelope_id, recipient_id, "decline", {"reason": reason})

    def send_draft(self, envelope_id: str) -> dict[str, Any]:
        """Send a draft as its sender does from the sender view (``PUT envelopes/{id}``
        ``{"status": "sent"}`` does the same over REST); ``{"envelope", "callbacks"}``."""
        return self._json("POST", f"envelopes/{quote(envelope_id)}/send", {})

    def void(self, envelope_id: str, reason: str) -> dict[str, Any]:
        return self._json("POST", f"envelopes/{quote(envelope_id)}/void", {"reason": reason})

    def bulk_envelopes(
        self, count: int, *, template_id: str = "tpl-nda", signers: int = 2, status: str = "sent"
    ) -> list[str]:
        """``count`` envelopes (at most 100,000) from ``template_id``, its first ``signers`` signer roles
        filled as ``Signer <n>-<i>`` / ``signer-<n>-<i>@example.test``, ``sent`` (or ``created``), with
        no callbacks for their creation: for benches. Their ids, in creation order."""
        body = {"count": count, "templateId": template_id, "signers": signers, "status": status}
        found: list[str] = self._json("POST", "envelopes/bulk", body)["envelopeIds"]
        return found

    def envelopes(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._json("GET", "envelopes")["envelopes"]
        return found

    def envelope(self, envelope_id: str) -> dict[str, Any]:
        return self._json("GET", f"envelopes/{quote(envelope_id)}")

    def document(self, envelope_id: str, document_id: str, *, certificate: bool = True) -> bytes:
        """A document's bytes, as the REST API serves them, without counting a download."""
        query = "" if certificate else "?" + urlencode({"certificate": "false"})
        return self._call("GET", f"envelopes/{quote(envelope_id)}/documents/{quote(document_id)}{query}")

    def downloads(self) -> list[dict[str, Any]]:
        """``[{"envelopeId", "documentId", "count"}]``: REST downloads so far."""
        found: list[dict[str, Any]] = self._json("GET", "downloads")["downloads"]
        return found

    # --- callbacks, faults, configuration ------------------------------------------------

    def callbacks(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._json("GET", "callbacks")["callbacks"]
        return found

    def clear_callbacks(self) -> None:
        self._call("DELETE", "callbacks")

    def add_fault(
        self,
        kind: str,
        count: int = 1,
        *,
        path_prefix: str | None = None,
        method: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        status: int | None = None,
        body: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The next ``count`` matching API answers: kind ``429`` (a burst), ``500``, ``503``,
        ``delay`` (answer late by ``delay`` seconds), ``hourly_limit`` (as the real limit
        answers: the account's rateLimitStatus, no Retry-After unless ``retry_after`` is given;
        429 and 503 send ``Retry-After: 1`` unless told otherwise) or ``drop_response`` (the
        request is served in full, callbacks included, then the connection closes with no
        answer: the client sees a transport error). Default prefix ``/restapi/``."""
        fault: dict[str, Any] = {"kind": kind, "count": count, "delay": delay}
        if retry_after is not None:
            fault["retryAfter"] = retry_after
        if path_prefix is not None:
            fault["pathPrefix"] = path_prefix
        if method is not None:
            fault["method"] = method
        if status is not None:
            fault["status"] = status
        if body is not None:
            fault["body"] = body
        found: list[dict[str, Any]] = self._json("POST", "faults", fault)["faults"]
        return found

    def faults(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._json("GET", "faults")["faults"]
        return found

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def requests(self) -> list[dict[str, Any]]:
        """Every REST and OAuth request answered, oldest first (the newest 100,000):
        ``{"method", "path" (no query), "query", "status", "errorCode" (or None), "at"}``.
        Control calls are not in it."""
        found: list[dict[str, Any]] = self._json("GET", "requests")["requests"]
        return found

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def configure(self, **changes: Any) -> dict[str, Any]:  # noqa: ANN401 - camelCase keys of POST /_sim/config
        """E.g. ``configure(connectFormat="xml", webhookUrl=..., hmacKeys=[...], consent=False)``."""
        return self._json("POST", "config", changes)

    def config(self) -> dict[str, Any]:
        return self._json("GET", "config")

    def set_consent(self, *, granted: bool) -> dict[str, Any]:
        """Grant (for ``signature impersonation``) or revoke the user's consent, without the consent page."""
        return self.configure(consent=granted)

    # --- Connect -------------------------------------------------------------------------

    def configurations(self) -> list[dict[str, Any]]:
        """The account's Connect configurations, as ``GET connect`` lists them (start-up one included)."""
        found: list[dict[str, Any]] = self._json("GET", "connect")["configurations"]
        return found

    def update_configuration(self, connect_id: str | int, **fields: Any) -> dict[str, Any]:  # noqa: ANN401 - connectCustomConfiguration's camelCase keys
        """Change a configuration by hand, as a person in DocuSign's Connect page does: the fields
        given replace the stored ones, checked as ``PUT connect`` checks them. The result."""
        return self._json("PUT", f"connect/{quote(str(connect_id))}", fields)

    def disable_configuration(self, connect_id: str | int) -> dict[str, Any]:
        """As DocuSign disables a configuration whose listener keeps failing: ``allowEnvelopePublish``
        "false" and ``disabledBy`` set. The configuration as it is now."""
        return self._json("POST", f"connect/{quote(str(connect_id))}/disable", {})

    def connect_off(self, envelope_ids: list[str] | None = None) -> dict[str, Any]:
        """Turn Connect off for the account (no ids) or these envelopes: their changes' callbacks are
        not sent (recorded as not sent, nothing in the failure log).
        ``{"connectOff", "connectOffEnvelopes"}``."""
        return self._json("POST", "connect/off", _envelope_ids(envelope_ids))

    def connect_on(self, envelope_ids: list[str] | None = None) -> dict[str, Any]:
        """Turn Connect on for the account (no ids: every envelope's off goes too) or these envelopes."""
        return self._json("POST", "connect/on", _envelope_ids(envelope_ids))

    def hmac_keys(self) -> list[dict[str, Any]]:
        """``[{"keyId", "secret", "createdDateTime"}]`` in creation order, with the full secrets."""
        found: list[dict[str, Any]] = self._json("GET", "hmac-keys")["hmacKeys"]
        return found

    def failures(self) -> list[dict[str, Any]]:
        """Connect's failure log (connectLog entries), oldest first."""
        found: list[dict[str, Any]] = self._json("GET", "connect/failures")["failures"]
        return found

    def allow_combined_download(self, *, allowed: bool) -> dict[str, Any]:
        return self.configure(allowCombinedDownload=allowed)

    def expire_tokens(self) -> int:
        return int(self._json("POST", "tokens/expire")["expired"])

    def register_template(
        self,
        template_id: str,
        roles: list[dict[str, Any]],
        *,
        name: str | None = None,
        document_name: str | None = None,
        email_subject: str | None = None,
        description: str | None = None,
        email_blurb: str | None = None,
        documents: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``roles``: ``[{"roleName", "routingOrder", "type": "signer"|"carboncopy"|"certifieddelivery",
        "name", "email" (a recipient the template fixes), "tabs": [{"tabLabel", "value"}]}]`` (text
        tabs, shown on signers), possibly none. ``documents``: ``[{"documentId", "name", "pages"}]``,
        possibly none (default: one, ``document_name``)."""
        template: dict[str, Any] = {"templateId": template_id, "roles": roles}
        for key, value in (
            ("name", name),
            ("documentName", document_name),
            ("emailSubject", email_subject),
            ("description", description),
            ("emailBlurb", email_blurb),
            ("documents", documents),
        ):
            if value is not None:
                template[key] = value
        return self._json("POST", "templates", template)

    def templates(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._json("GET", "templates")["templates"]
        return found

    def reset(self) -> None:
        """Forget envelopes, callbacks, Connect failures, downloads, faults, tokens and the request log;
        keep templates, config, Connect configurations and HMAC keys."""
        self._call("POST", "reset")


def _envelope_ids(envelope_ids: list[str] | None) -> dict[str, Any]:
    return {} if envelope_ids is None else {"envelopeIds": list(envelope_ids)}
