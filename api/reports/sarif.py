"""SARIF 2.1.0: one run, the rules that fired (with help), a result per violation, and a
notification per file that could not be linted."""

import json
from importlib.metadata import version
from urllib.parse import quote

from api.reports.common import JobReportData, rule_catalogue
from db.models import SEVERITY_RANK, LintingViolation, Severity, TaskStatus

RULES_DOC = "https://docs.sqlfluff.com/en/stable/reference/rules.html"
_SARIF_LEVEL = {
    Severity.BLOCKER: "error",
    Severity.CRITICAL: "error",
    Severity.MAJOR: "warning",
    Severity.MINOR: "warning",
    Severity.INFO: "note",
}


def sarif(data: JobReportData) -> str:
    """The SARIF log as JSON text (ASCII: any character survives, as an escape)."""
    codes = sorted({v.rule_code for v in data.violations})
    index = {code: i for i, code in enumerate(codes)}
    results = [
        {
            "ruleId": v.rule_code,
            "ruleIndex": index[v.rule_code],
            "level": _SARIF_LEVEL[v.severity],
            "message": {"text": v.description},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": quote(v.file_name)},
                        "region": _region(v),
                    }
                }
            ],
            "properties": {"severity": v.severity.value},
        }
        for v in data.violations
    ]
    failed = [t for t in data.tasks if t.status == TaskStatus.FAILURE]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "SQLFluff",
                        "version": version("sqlfluff"),
                        "informationUri": "https://www.sqlfluff.com/",
                        "rules": _rules(data, codes),
                    }
                },
                "automationDetails": {"id": f"sqlfluff-service/{data.job.job_id}"},
                "invocations": [
                    {
                        "executionSuccessful": data.job.status.value != "FAILED",
                        "toolExecutionNotifications": [
                            {
                                "level": "error",
                                "message": {"text": f"{t.file_name}: {t.error_message}"},
                                "locations": [
                                    {
                                        "physicalLocation": {
                                            "artifactLocation": {"uri": quote(t.file_name)}
                                        }
                                    }
                                ],
                            }
                            for t in failed
                        ],
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=1)


def _rules(data: JobReportData, codes: list[str]) -> list[dict[str, object]]:
    """One descriptor per rule that fired, at the level of its worst violation in this job."""
    catalogue = rule_catalogue()
    worst: dict[str, Severity] = {}
    for v in data.violations:
        current = worst.get(v.rule_code)
        if current is None or SEVERITY_RANK[v.severity] > SEVERITY_RANK[current]:
            worst[v.rule_code] = v.severity
    rules: list[dict[str, object]] = []
    for code in codes:
        # A rule from a plugin this process does not load still gets a descriptor from its rows.
        name, description = catalogue.get(code, (_name_of(data, code), _description_of(data, code)))
        rules.append(
            {
                "id": code,
                "name": name,
                "shortDescription": {"text": description},
                "fullDescription": {"text": f"{code} ({name}): {description}"},
                "help": {
                    "text": f"{description} See {RULES_DOC} for examples and configuration.",
                    "markdown": f"{description}\n\nSee [{code} in the SQLFluff rules]"
                    f"({RULES_DOC}) for examples and configuration.",
                },
                "helpUri": RULES_DOC,
                "defaultConfiguration": {"level": _SARIF_LEVEL[worst[code]]},
                "properties": {"severity": worst[code].value},
            }
        )
    return rules


def _region(v: LintingViolation) -> dict[str, int]:
    # SARIF requires positive positions and an end after the start; SQLFluff's can be 0 or equal.
    region = {"startLine": max(v.start_line, 1), "startColumn": max(v.start_pos, 1)}
    if v.end_line and v.end_line >= region["startLine"]:
        region["endLine"] = v.end_line
        if v.end_pos and (v.end_line > region["startLine"] or v.end_pos > region["startColumn"]):
            region["endColumn"] = v.end_pos
    return region


def _name_of(data: JobReportData, code: str) -> str:
    return next((v.rule_name for v in data.violations if v.rule_code == code), code) or code


def _description_of(data: JobReportData, code: str) -> str:
    return next(v.description for v in data.violations if v.rule_code == code)
