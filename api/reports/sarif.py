"""SARIF 2.1.0: one run, the rules that fired (with help), a result per violation, and a
notification per file that could not be linted.

For GitHub code scanning: URIs relative to the repository root (`path_prefix`, the submitted
folder's place in the repository), `partialFingerprints` that survive lines moving (the file,
rule and text of the flagged line, and how often that triple came before), and at most
`max_results` results (GitHub refuses runs over 25,000) with a notification saying what was cut.
"""

import hashlib
import json
from collections import Counter
from importlib.metadata import version
from urllib.parse import quote

from api.reports.common import JobReportData, rule_catalogue
from db.models import SEVERITY_RANK, LintingTask, LintingViolation, Severity, TaskStatus

RULES_DOC = "https://docs.sqlfluff.com/en/stable/reference/rules.html"
# GitHub code scanning's limit on results per run.
MAX_RESULTS = 25_000
FINGERPRINT = "sqlfluffLineHash/v1"
_SARIF_LEVEL = {
    Severity.BLOCKER: "error",
    Severity.CRITICAL: "error",
    Severity.MAJOR: "warning",
    Severity.MINOR: "warning",
    Severity.INFO: "note",
}


def sarif(data: JobReportData, path_prefix: str = "", max_results: int = MAX_RESULTS) -> str:
    """The SARIF log as JSON text (ASCII: any character survives, as an escape).

    The worst violations are kept when over `max_results` (then by file and position)."""
    prefix = path_prefix.strip("/")

    def uri(file_name: str) -> str:
        return quote(f"{prefix}/{file_name}" if prefix else file_name)

    kept = data.violations
    if len(kept) > max_results:
        kept = sorted(kept, key=lambda v: -SEVERITY_RANK[v.severity])[:max_results]
    codes = sorted({v.rule_code for v in kept})
    index = {code: i for i, code in enumerate(codes)}
    fingerprints = _fingerprints(data, kept)
    results = [
        {
            "ruleId": v.rule_code,
            "ruleIndex": index[v.rule_code],
            "level": _SARIF_LEVEL[v.severity],
            "message": {"text": v.description},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(v.file_name)},
                        "region": _region(v),
                    }
                }
            ],
            "partialFingerprints": {FINGERPRINT: fingerprints[id(v)]},
            "properties": {"severity": v.severity.value},
        }
        for v in kept
    ]
    notes: list[dict[str, object]] = []
    if len(kept) < len(data.violations):
        notes.append(
            {
                "level": "warning",
                "message": {
                    "text": f"{len(data.violations)} violations, only the {len(kept)} most "
                    "severe reported (the cap of results per run); raise min_severity or fix "
                    "some to see the rest"
                },
            }
        )
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
                                            "artifactLocation": {"uri": uri(t.file_name)}
                                        }
                                    }
                                ],
                            }
                            for t in failed
                        ]
                        + notes,
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=1)


def _fingerprints(data: JobReportData, kept: list[LintingViolation]) -> dict[int, str]:
    """A hash per violation of its file, rule and flagged line's text, and the count of that
    triple before it: unchanged when lines are added above."""
    tasks = {t.task_id: t for t in data.tasks}
    sources: dict[str, list[str]] = {}
    seen: Counter[tuple[str, str, str]] = Counter()
    out: dict[int, str] = {}
    for v in sorted(kept, key=lambda v: (v.file_name, v.start_line, v.start_pos)):
        if v.task_id not in sources:
            task = tasks.get(v.task_id)
            sources[v.task_id] = _source_lines(data, task) if task else []
        lines = sources[v.task_id]
        text = lines[v.start_line - 1].strip() if 0 < v.start_line <= len(lines) else ""
        key = (v.file_name, v.rule_code, text or v.description)
        seen[key] += 1
        digest = hashlib.sha256("\0".join((*key, str(seen[key]))).encode()).hexdigest()
        out[id(v)] = f"{digest[:32]}:{seen[key]}"
    return out


def _source_lines(data: JobReportData, task: LintingTask) -> list[str]:
    try:
        raw = (data.shared_root / task.source_file_path).read_bytes()
    except OSError:
        return []
    return raw.decode("utf-8-sig", errors="replace").splitlines()


def _rules(data: JobReportData, codes: list[str]) -> list[dict[str, object]]:
    """One descriptor per rule that fired, at the level of its worst violation in this job."""
    catalogue = rule_catalogue()
    worst: dict[str, Severity] = {}
    for v in data.violations:
        if v.rule_code not in codes:
            continue
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
