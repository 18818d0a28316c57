"""Severity of a violation: a rule's code, or its group, mapped to INFO … BLOCKER.

Defaults follow what a violation means for the SQL: a file SQLFluff cannot parse or template is a
BLOCKER (nothing else about it can be trusted); ambiguous or broken references are MAJOR;
structure and conventions MINOR; layout and capitalisation INFO. SEVERITY_OVERRIDES (settings)
maps a code ("LT05") or a group prefix ("LT") to another severity; a code beats its group.
"""

import re
from collections.abc import Mapping

from db.models import Severity

DEFAULT_BY_GROUP: Mapping[str, Severity] = {
    "PRS": Severity.BLOCKER,  # parse error
    "LXR": Severity.BLOCKER,  # lexing error
    "TMP": Severity.BLOCKER,  # templating error
    "AM": Severity.MAJOR,  # ambiguous
    "RF": Severity.MAJOR,  # references
    "ST": Severity.MINOR,  # structure
    "CV": Severity.MINOR,  # convention
    "AL": Severity.MINOR,  # aliasing
    "JJ": Severity.MINOR,  # jinja
    "TQ": Severity.MINOR,  # T-SQL
    "LT": Severity.INFO,  # layout
    "CP": Severity.INFO,  # capitalisation
}
FALLBACK = Severity.MINOR


def group_of(code: str) -> str:
    match = re.match(r"[A-Za-z]+", code)
    return match.group(0).upper() if match else code.upper()


def severity_of(code: str, overrides: Mapping[str, str] = {}) -> Severity:
    """The severity of a violation with this rule code."""
    code = code.upper()
    group = group_of(code)
    for key in (code, group):
        if key in overrides:
            return Severity(overrides[key])
    return DEFAULT_BY_GROUP.get(group, FALLBACK)
