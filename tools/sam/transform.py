"""template.yaml as CloudFormation deploys it: the SAM transform, offline, as JSON.

Run with the SAM environment's interpreter (``make security``). cfn-lint and checkov read
the result, so they judge the roles, permissions and event sources SAM generates, not
only what the template spells out.

The template names no AWS managed policy by name (SAM's own additions are ARNs), so
the transform needs no IAM lookup; a name would fail here rather than reach the network.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class _NoManagedPolicies:
    """The managed-policy lookup SAM would make against IAM: there is none to make."""

    def load(self) -> dict[str, str]:
        return {}


def main(source: str, target: str) -> None:
    # The transform fills AWS::Region in for the ARNs it writes; any region reads the same.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse(Path(source).read_text())
    # `sam package` replaces the local code folder with the S3 object it uploaded.
    template["Globals"]["Function"]["CodeUri"] = "s3://packaged-by-sam/functions.zip"
    transformed = transform(template, {}, _NoManagedPolicies(), passthrough_metadata=True)  # type: ignore[arg-type]
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(json.dumps(transformed, indent=1, sort_keys=True) + "\n")
    print(f"{source}: {len(transformed['Resources'])} resources after the SAM transform -> {target}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
