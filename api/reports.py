"""A job's findings rendered as SARIF 2.1.0, JUnit XML, CSV or a standalone HTML page.

Pure functions of the rows (and, for HTML, the source lines on the share). Positions are
SQLFluff's: 1-based lines and columns.
"""

import csv
import html
import io
import json
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote

from db.models import SEVERITY_RANK, LintingJob, LintingTask, LintingViolation, Severity, TaskStatus

MEDIA_TYPES = {
    "sarif": "application/sarif+json",
    "junit": "application/xml",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
EXTENSIONS = {"sarif": "sarif", "junit": "xml", "csv": "csv", "html": "html"}
RULES_DOC = "https://docs.sqlfluff.com/en/stable/reference/rules.html"
_SARIF_LEVEL = {
    Severity.BLOCKER: "error",
    Severity.CRITICAL: "error",
    Severity.MAJOR: "warning",
    Severity.MINOR: "warning",
    Severity.INFO: "note",
}


@dataclass(frozen=True)
class JobReportData:
    job: LintingJob
    tasks: list[LintingTask]
    violations: list[LintingViolation]
    shared_root: Path

    def by_task(self) -> dict[str, list[LintingViolation]]:
        grouped: dict[str, list[LintingViolation]] = defaultdict(list)
        for v in self.violations:
            grouped[v.task_id].append(v)
        return grouped


@cache
def rule_catalogue() -> dict[str, tuple[str, str]]:
    """Rule code -> (name, description), from SQLFluff itself."""
    from sqlfluff import list_rules

    return {r.code: (r.name, r.description) for r in list_rules()}


def render(fmt: str, data: JobReportData) -> str:
    return {"sarif": sarif, "junit": junit, "csv": to_csv, "html": to_html}[fmt](data)


def sarif(data: JobReportData) -> str:
    """SARIF 2.1.0: one run, the rules that fired (with help), a result per finding, and a
    notification per file that could not be linted."""
    codes = sorted({v.rule_code for v in data.violations})
    index = {code: i for i, code in enumerate(codes)}
    catalogue = rule_catalogue()
    worst: dict[str, Severity] = {}
    for v in data.violations:
        current = worst.get(v.rule_code)
        if current is None or SEVERITY_RANK[v.severity] > SEVERITY_RANK[current]:
            worst[v.rule_code] = v.severity
    rules = []
    for code in codes:
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
                        "rules": rules,
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


def _region(v: LintingViolation) -> dict[str, int]:
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


def junit(data: JobReportData) -> str:
    """JUnit XML: one testcase per file; a failure lists its findings, an error says why the
    file could not be linted."""
    findings = data.by_task()
    failures = sum(1 for t in data.tasks if findings.get(t.task_id))
    errors = sum(1 for t in data.tasks if t.status != TaskStatus.SUCCESS)
    suites = ET.Element(
        "testsuites",
        name="sqlfluff-service",
        tests=str(len(data.tasks)),
        failures=str(failures),
        errors=str(errors),
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=data.job.job_id,
        tests=str(len(data.tasks)),
        failures=str(failures),
        errors=str(errors),
        timestamp=data.job.created_at.isoformat(timespec="seconds"),
    )
    for task in data.tasks:
        case = ET.SubElement(suite, "testcase", classname="sqlfluff", name=task.file_name)
        found = findings.get(task.task_id, [])
        if task.status != TaskStatus.SUCCESS:
            error = ET.SubElement(
                case, "error", message=task.error_message or task.status.value, type="lint-error"
            )
            error.text = task.error_message or task.status.value
        elif found:
            failure = ET.SubElement(
                case, "failure", message=f"{len(found)} violation(s)", type="sqlfluff"
            )
            failure.text = "\n".join(
                f"{task.file_name}:{v.start_line}:{v.start_pos}: {v.rule_code} "
                f"[{v.severity.value}] {v.description}"
                for v in found
            )
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


CSV_COLUMNS = (
    "file_name",
    "start_line",
    "start_pos",
    "end_line",
    "end_pos",
    "rule_code",
    "rule_name",
    "severity",
    "description",
)


def to_csv(data: JobReportData) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for v in data.violations:
        writer.writerow(
            [
                v.file_name,
                v.start_line,
                v.start_pos,
                v.end_line if v.end_line is not None else "",
                v.end_pos if v.end_pos is not None else "",
                v.rule_code,
                v.rule_name,
                v.severity.value,
                v.description,
            ]
        )
    return out.getvalue()


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}
pre{background:#f8f8f8;padding:.5rem;margin:.25rem 0;overflow-x:auto}
.sev-BLOCKER,.sev-CRITICAL{color:#b00020;font-weight:bold}
.sev-MAJOR{color:#c75300}.sev-MINOR{color:#826f00}.sev-INFO{color:#555}
.failed{color:#b00020}
"""


def _source_lines(data: JobReportData, task: LintingTask) -> list[str]:
    try:
        raw = (data.shared_root / task.source_file_path).read_bytes()
    except OSError:
        return []
    text = raw.decode("utf-8-sig", errors="replace")
    return text.splitlines()


def to_html(data: JobReportData) -> str:
    """A page a person can open: the job, counts by severity and rule, then each file with its
    findings and the lines of SQL they point at."""
    e = html.escape
    job = data.job
    severities = Counter(v.severity for v in data.violations)
    rules = Counter((v.rule_code, v.rule_name) for v in data.violations)
    findings = data.by_task()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>SQLFluff report {e(job.job_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>SQLFluff report</h1><table id='job'>"
        f"<tr><th>Job</th><td>{e(job.job_id)}</td></tr>"
        f"<tr><th>Status</th><td>{e(job.status.value)}</td></tr>"
        f"<tr><th>Source</th><td>{e(job.source_path)}</td></tr>"
        f"<tr><th>Dialect</th><td>{e(job.dialect)}</td></tr>"
        f"<tr><th>Created</th><td>{e(job.created_at.isoformat(timespec='seconds'))} UTC</td></tr>"
        f"<tr><th>Files</th><td>{len(data.tasks)}</td></tr>"
        f"<tr><th>Violations</th><td id='total'>{len(data.violations)}</td></tr></table>",
        "<h2>By severity</h2><table id='by-severity'><tr><th>Severity</th><th>Count</th></tr>",
    ]
    for severity in sorted(Severity, key=SEVERITY_RANK.__getitem__, reverse=True):
        parts.append(
            f"<tr><td class='sev-{severity.value}'>{severity.value}</td>"
            f"<td>{severities.get(severity, 0)}</td></tr>"
        )
    parts.append(
        "</table><h2>By rule</h2><table id='by-rule'>"
        "<tr><th>Rule</th><th>Name</th><th>Count</th></tr>"
    )
    for (code, name), count in rules.most_common():
        parts.append(f"<tr><td>{e(code)}</td><td>{e(name)}</td><td>{count}</td></tr>")
    parts.append("</table><h2>Files</h2>")
    for task in data.tasks:
        found = findings.get(task.task_id, [])
        parts.append(f"<section class='file'><h3>{e(task.file_name)}</h3>")
        if task.status != TaskStatus.SUCCESS:
            reason = task.error_message or f"not linted ({task.status.value})"
            parts.append(f"<p class='failed'>Not linted: {e(reason)}</p></section>")
            continue
        if not found:
            parts.append("<p>No violations.</p></section>")
            continue
        lines = _source_lines(data, task)
        parts.append(
            "<table class='findings'><tr><th>Line</th><th>Col</th><th>Rule</th>"
            "<th>Severity</th><th>Description</th><th>SQL</th></tr>"
        )
        for v in found:
            first = max(v.start_line, 1)
            last = min(max(v.end_line or first, first), first + 4)
            snippet = "\n".join(
                f"{n:>5} | {lines[n - 1]}" for n in range(first, last + 1) if n <= len(lines)
            )
            parts.append(
                f"<tr><td>{v.start_line}</td><td>{v.start_pos}</td><td>{e(v.rule_code)}</td>"
                f"<td class='sev-{v.severity.value}'>{v.severity.value}</td>"
                f"<td>{e(v.description)}</td><td><pre>{e(snippet)}</pre></td></tr>"
            )
        parts.append("</table></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
