"""Queries on `linting_violations`, a job's violations: filtered pages, reports, summaries and
the multiset a re-lint compares.
"""

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from db.models import (
    SEVERITY_RANK,
    LintingTask,
    LintingViolation,
    Severity,
)


@dataclass(frozen=True)
class Violation:
    """One violation of a linted file, as stored in `linting_violations`."""

    rule_code: str
    rule_name: str
    start_line: int
    start_pos: int
    end_line: int | None
    end_pos: int | None
    description: str
    severity: Severity
    warning: bool


@dataclass(frozen=True)
class ViolationFilter:
    """Filters of `GET /jobs/{id}/violations`; None means any."""

    rule: str | None = None
    severity: Severity | None = None
    min_severity: Severity | None = None
    file_name: str | None = None


def _violation_conditions(job_id: str, where: ViolationFilter) -> list[object]:
    conditions: list[object] = [LintingViolation.job_id == job_id]
    if where.rule is not None:
        conditions.append(LintingViolation.rule_code == where.rule.upper())
    if where.severity is not None:
        conditions.append(LintingViolation.severity == where.severity)
    if where.min_severity is not None:
        at_least = [s for s in Severity if SEVERITY_RANK[s] >= SEVERITY_RANK[where.min_severity]]
        conditions.append(LintingViolation.severity.in_(at_least))
    if where.file_name is not None:
        conditions.append(LintingViolation.file_name == where.file_name)
    return conditions


def list_violations(
    session: Session, job_id: str, where: ViolationFilter, page: int, size: int
) -> tuple[int, list[LintingViolation]]:
    """A job's violations matching the filter, by file and position, and how many match."""
    conditions = _violation_conditions(job_id, where)
    total = (
        session.scalar(select(func.count()).select_from(LintingViolation).where(*conditions)) or 0
    )
    rows = session.scalars(
        _violations_in_order(job_id, where).offset((page - 1) * size).limit(size)
    )
    return total, list(rows)


def _violations_in_order(job_id: str, where: ViolationFilter) -> Select[tuple[LintingViolation]]:
    return (
        select(LintingViolation)
        .where(*_violation_conditions(job_id, where))
        .order_by(
            LintingViolation.file_name,
            LintingViolation.start_line,
            LintingViolation.start_pos,
            LintingViolation.id,
        )
    )


def all_violations(session: Session, job_id: str) -> list[LintingViolation]:
    """Every violation of a job in file order (for reports)."""
    return list(session.scalars(_violations_in_order(job_id, ViolationFilter())))


@dataclass(frozen=True)
class JobSummary:
    by_rule: dict[str, dict[str, object]]
    by_severity: dict[str, int]
    top_files: list[tuple[str, int]]


def summarize(session: Session, job_id: str, top: int) -> JobSummary:
    """Counts of a job's violations by rule (with its name), by severity, and its worst files."""
    by_rule: dict[str, dict[str, object]] = {}
    for code, name, severity, count in session.execute(
        select(
            LintingViolation.rule_code,
            func.min(LintingViolation.rule_name),
            func.min(LintingViolation.severity),
            func.count(),
        )
        .where(LintingViolation.job_id == job_id)
        .group_by(LintingViolation.rule_code)
        .order_by(func.count().desc(), LintingViolation.rule_code)
    ):
        by_rule[code] = {"name": name, "severity": Severity(severity).value, "count": count}
    by_severity = dict.fromkeys((s.value for s in Severity), 0)
    for severity, count in session.execute(
        select(LintingViolation.severity, func.count())
        .where(LintingViolation.job_id == job_id)
        .group_by(LintingViolation.severity)
    ):
        by_severity[Severity(severity).value] = count
    top_files = [
        (name, count)
        for name, count in session.execute(
            select(LintingTask.file_name, LintingTask.violation_count)
            .where(LintingTask.job_id == job_id, LintingTask.violation_count > 0)
            .order_by(LintingTask.violation_count.desc(), LintingTask.file_name)
            .limit(top)
        )
    ]
    return JobSummary(by_rule, by_severity, top_files)


def violation_keys(session: Session, job_id: str) -> Counter[tuple[str, str, int, int]]:
    """A job's violations as a multiset of (file, rule, line, position), to compare two runs."""
    rows = session.execute(
        select(
            LintingViolation.file_name,
            LintingViolation.rule_code,
            LintingViolation.start_line,
            LintingViolation.start_pos,
        ).where(LintingViolation.job_id == job_id)
    )
    return Counter((f, r, line, pos) for f, r, line, pos in rows)
