"""pip-audit over the locked requirements that sam build ships, saying plainly what it could audit.

Run with the security environment's interpreter (``make security``). A known vulnerability
in an audited package fails; an advisory source that cannot be reached, or that knows none
of the locked versions (a registry mirror without PyPI's JSON API), is reported as skipped,
with the packages it could not audit, and does not fail: that is the state of the source,
not of dealwire.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main(requirements: str) -> int:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    command = [str(pip_audit), "-r", requirements, "--no-deps", "--disable-pip", "--progress-spinner", "off"]
    result = subprocess.run([*command, "--format", "json"], capture_output=True, text=True, check=False)  # noqa: S603
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit: skipped, its advisory source could not be reached ({reason})")
        return 0
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = [d for d in dependencies if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    if not audited:
        print(
            f"pip-audit: skipped, the advisory source (PyPI's JSON API) knows none of the "
            f"{len(dependencies)} locked versions in {requirements}; nothing was audited"
        )
        return 0
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version"
            print(f"{dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixed})")
    unaudited = ", ".join(sorted(d["name"] for d in skipped)) or "none"
    print(
        f"pip-audit: {len(audited)} of {len(dependencies)} locked packages audited, "
        f"{len(vulnerable)} with known vulnerabilities; not audited: {unaudited}"
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
