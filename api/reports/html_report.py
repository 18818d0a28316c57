"""A standalone HTML page a person can open: the job, counts by severity and rule, then each
file with its violations and the lines of SQL they point at."""

from collections import Counter
from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from api.reports.common import JobReportData
from db.models import SEVERITY_RANK, LintingTask, Severity, TaskStatus

# How many lines of SQL a violation quotes at most, from its first line.
SNIPPET_LINES = 5


@dataclass(frozen=True)
class _Violation:
    line: int
    column: int
    rule_code: str
    severity: str
    description: str
    snippet: str


@dataclass(frozen=True)
class _File:
    name: str
    failure: str | None  # why the file was not linted; None when it was
    violations: list[_Violation]


@cache
def templates() -> Environment:
    """The report's templates and the review UI's (api/routes/ui.py): one environment."""
    # Autoescape on for the whole environment, not chosen by file suffix: the template is
    # `report.html.j2`, which select_autoescape's default suffixes would not match, and every
    # value it prints (file names, messages, SQL) comes from the submitter.
    return Environment(
        loader=PackageLoader("api.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def to_html(data: JobReportData) -> str:
    severities = Counter(v.severity for v in data.violations)
    rules = Counter((v.rule_code, v.rule_name) for v in data.violations)
    return (
        templates()
        .get_template("report.html.j2")
        .render(
            job=data.job,
            created=data.job.created_at.isoformat(timespec="seconds"),
            file_count=len(data.tasks),
            total=len(data.violations),
            by_severity=[
                (s.value, severities.get(s, 0))
                for s in sorted(Severity, key=SEVERITY_RANK.__getitem__, reverse=True)
            ],
            by_rule=[(code, name, n) for (code, name), n in rules.most_common()],
            files=_files(data),
        )
    )


def _files(data: JobReportData) -> list[_File]:
    violations = data.by_task()
    files = []
    for task in data.tasks:
        if task.status != TaskStatus.SUCCESS:
            reason = task.error_message or f"not linted ({task.status.value})"
            files.append(_File(task.file_name, reason, []))
            continue
        found = violations.get(task.task_id, [])
        # The source is read only for a file with violations: most files of a big job have none.
        lines = _source_lines(data, task) if found else []
        files.append(
            _File(
                task.file_name,
                None,
                [
                    _Violation(
                        v.start_line,
                        v.start_pos,
                        v.rule_code,
                        v.severity.value,
                        v.description,
                        snippet(lines, v.start_line, v.end_line),
                    )
                    for v in found
                ],
            )
        )
    return files


def snippet(lines: list[str], start_line: int, end_line: int | None) -> str:
    """The numbered lines a violation points at (at most SNIPPET_LINES), as the report and the
    review UI quote them."""
    first = max(start_line, 1)
    last = min(max(end_line or first, first), first + SNIPPET_LINES - 1)
    return "\n".join(f"{n:>5} | {lines[n - 1]}" for n in range(first, last + 1) if n <= len(lines))


def _source_lines(data: JobReportData, task: LintingTask) -> list[str]:
    try:
        raw = (data.shared_root / task.source_file_path).read_bytes()
    except OSError:
        return []  # cleaned up since: the page still lists the violations, without their SQL
    return raw.decode("utf-8-sig", errors="replace").splitlines()
