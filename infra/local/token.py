"""Print a dev token for the local CRM API: `python -m infra.local.token --user U --tenant T`.

Signed by the running stack's issuer (its key and URL are in `.dealwire/local.json`), so the
gateway's JWT authorizer accepts it as API Gateway's would accept one from the CRM's IdP.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from infra.local.jwt_issuer import DEFAULT_TTL_SECONDS, Issuer, load_or_create_key
from infra.local.template import ROOT

if TYPE_CHECKING:
    from collections.abc import Sequence

DEFAULT_STATE_FILE = ROOT / ".dealwire" / "local.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.token", description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="user-1", help="the CRM user (sub claim); default user-1, seeded")
    parser.add_argument(
        "--tenant", default=None, help="the tenant (dealwire:tenant claim); default the stack's"
    )
    parser.add_argument(
        "--role", default=None, help="the dealwire:role claim (admin may connect DocuSign); default none"
    )
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="seconds until it expires")
    parser.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE", help="another claim")
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    args = parser.parse_args(argv)
    try:
        state = json.loads(args.state_file.read_text())
    except FileNotFoundError:
        sys.stderr.write(f"{args.state_file} does not exist: start the local stack with `make run` first\n")
        return 2
    extra = dict(claim.split("=", 1) for claim in args.claim if "=" in claim)
    issuer = Issuer(
        url=state["jwt_issuer"],
        audience=state["jwt_audience"],
        key=load_or_create_key(Path(state["jwt_key_file"])),
    )
    sys.stdout.write(
        issuer.token(
            user=args.user,
            tenant=args.tenant or state["tenant_id"],
            role=args.role,
            ttl_seconds=args.ttl,
            **extra,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
