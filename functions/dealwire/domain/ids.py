"""The identifiers dealwire accepts at its edges, each pattern written once."""

from __future__ import annotations

import re
from typing import Final

# A tenant id is part of every key, of secret names and of Smart BCC addresses.
TENANT_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Ids the CRM gives its persons, deals and users.
CRM_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
# Thread ids are dealwire's own: 32 hex digits of a message key.
THREAD_ID_PATTERN: Final = r"^[a-f0-9]{32}$"
# Automation rule ids are dealwire's own: 32 hex digits, made when the rule is created.
RULE_ID_PATTERN: Final = r"^[a-f0-9]{32}$"
# DocuSign's envelope, account and recipient ids: GUIDs, or short numbers for recipients.
DOCUSIGN_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"

_TENANT: Final = re.compile(TENANT_ID_PATTERN)
_CRM: Final = re.compile(CRM_ID_PATTERN)
_THREAD: Final = re.compile(THREAD_ID_PATTERN)
_DOCUSIGN: Final = re.compile(DOCUSIGN_ID_PATTERN)
_RULE: Final = re.compile(RULE_ID_PATTERN)


def is_tenant_id(value: object) -> bool:
    return isinstance(value, str) and _TENANT.match(value) is not None


def is_crm_id(value: object) -> bool:
    return isinstance(value, str) and _CRM.match(value) is not None


def is_thread_id(value: object) -> bool:
    return isinstance(value, str) and _THREAD.match(value) is not None


def is_docusign_id(value: object) -> bool:
    return isinstance(value, str) and _DOCUSIGN.match(value) is not None


def is_rule_id(value: object) -> bool:
    return isinstance(value, str) and _RULE.fullmatch(value) is not None
