"""Re-apply a tenant's archived Connect messages through the webhook's own path.

    python -m dealwire.tools.replay --tenant T [--envelope E] [--since 2026-12-01T00:00:00Z] [--rejected]

Every authentic Connect body dealwire accepted is archived in the documents bucket
(``connect/<tenant>/<envelope>/``), and so is every envelope the poller or a refresh read
from DocuSign; ``--rejected`` also tries the bodies the webhook refused
(``connect-rejected/<tenant>/``), once whatever refused them is fixed. The ordering rule
makes this harmless to run any number of times: what is recorded already is stale.
Settings are the webhook's environment variables (``DEALWIRE_TABLE_NAME``,
``DEALWIRE_DOCUMENTS_BUCKET``, ``DEALWIRE_TENANT_SECRET_PREFIX``,
``DEALWIRE_DEFAULT_TENANT_ID``); boto3 finds credentials, region and endpoint as usual.
The report is printed as JSON. Exit status: 0 done, 1 some bodies are still refused,
2 misused or not configured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from dealwire.settings import SettingsError, WebhookSettings, load_settings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

EXIT_REFUSED, EXIT_USAGE = 1, 2


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dealwire.tools.replay", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--tenant", required=True, help="the tenant whose archive to replay")
    parser.add_argument("--envelope", default=None, help="only this envelope's messages")
    parser.add_argument("--since", default=None, help="only messages made at or after this ISO 8601 time")
    parser.add_argument("--rejected", action="store_true", help="also the bodies the webhook refused")
    args = parser.parse_args(argv)
    source = dict(os.environ if environ is None else environ)
    # The webhook's metrics namespace is Lambda's business; the tool emits none.
    source.setdefault("POWERTOOLS_METRICS_NAMESPACE", "dealwire")
    try:
        settings = load_settings(WebhookSettings, source)
    except SettingsError as exc:
        sys.stderr.write(f"replay: {exc}\n")
        return EXIT_USAGE
    from dealwire.webhook.replay import ReplayRefused, archive_replay  # noqa: PLC0415 - after the settings

    try:
        report = archive_replay(settings).run(
            args.tenant, envelope_id=args.envelope, since=args.since, rejected=args.rejected
        )
    except ReplayRefused as exc:
        sys.stderr.write(f"replay: {exc}\n")
        return EXIT_USAGE
    sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    return EXIT_REFUSED if report.refused else 0


if __name__ == "__main__":
    sys.exit(main())
