"""``python -m infra.docusign_sim``: run the DocuSign simulator on 127.0.0.1 until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from infra.docusign_sim.connect import FORMATS
from infra.docusign_sim.hmac_keys import MAX_KEYS
from infra.docusign_sim.server import Simulator


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.docusign_sim", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port (default 8080)")
    parser.add_argument("--account-id", required=True, help="the account GUID the API answers for")
    parser.add_argument("--integration-key", required=True, help="the JWT's iss")
    parser.add_argument("--user-id", required=True, help="the JWT's sub: the impersonated user")
    parser.add_argument("--public-key-file", required=True, type=Path, help="PEM public key (or certificate)")
    parser.add_argument("--webhook-url", help="where Connect callbacks are POSTed")
    parser.add_argument("--hmac-key", action="append", default=[], help="Connect HMAC key; repeat for -2, -3")
    parser.add_argument("--max-hmac-keys", type=int, default=MAX_KEYS, help="HMAC keys an account may have")
    parser.add_argument("--connect-format", choices=FORMATS, default="json")
    parser.add_argument("--include-documents", action="store_true", help="PDFs in envelope-completed")
    parser.add_argument("--no-envelope-data", action="store_true", help="minimal SIM messages")
    parser.add_argument("--async-callbacks", action="store_true", help="deliver callbacks from a thread")
    parser.add_argument("--drop-callbacks", type=float, default=0.0, help="share of callbacks lost, 0-1")
    parser.add_argument("--drop-seed", type=int, default=0, help="seed of the drops (repeatable runs)")
    parser.add_argument("--no-consent", action="store_true", help="the user must visit /oauth/auth first")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="access tokens' expires_in")
    parser.add_argument("--rate-limit", type=int, default=3000, help="API calls per clock hour")
    parser.add_argument("--burst-limit", type=int, default=500, help="API calls per 30 s (200 in demo)")
    parser.add_argument(
        "--rate-limit-status",
        type=int,
        choices=(400, 429),
        default=429,
        help="status of the limits' refusals",
    )
    parser.add_argument("--envelope-polling", action="store_true", help="enforce the per-envelope GET limit")
    parser.add_argument("--envelope-polling-limit", type=int, default=1, help="GETs per envelope per window")
    parser.add_argument("--envelope-polling-window", type=int, default=900, help="seconds (15 minutes)")
    parser.add_argument("--user-name", default="Sim Sender")
    parser.add_argument("--user-email", default="sender@example.com")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    sim = Simulator(
        account_id=args.account_id,
        integration_key=args.integration_key,
        user_id=args.user_id,
        public_key_pem=args.public_key_file.read_text(encoding="ascii"),
        port=args.port,
        webhook_url=args.webhook_url,
        hmac_keys=args.hmac_key,
        max_hmac_keys=args.max_hmac_keys,
        consent=not args.no_consent,
        connect_format=args.connect_format,
        include_envelope_data=not args.no_envelope_data,
        include_documents=args.include_documents,
        token_lifetime=args.token_lifetime,
        rate_limit=args.rate_limit,
        burst_limit=args.burst_limit,
        rate_limit_status=args.rate_limit_status,
        envelope_polling=args.envelope_polling,
        envelope_polling_limit=args.envelope_polling_limit,
        envelope_polling_window=args.envelope_polling_window,
        async_callbacks=args.async_callbacks,
        drop_callbacks=args.drop_callbacks,
        drop_seed=args.drop_seed,
        user_name=args.user_name,
        user_email=args.user_email,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    sim.start()
    print(
        f"DocuSign simulator on {sim.url} (account {args.account_id}); OAuth aud 127.0.0.1:{sim.port}",
        flush=True,
    )
    print(f"control API: {sim.url}/_sim/ ; webhook: {args.webhook_url or 'none'} ({args.connect_format})")
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
