"""Queries on `linting_violations`, a job's violations: filtered pages, reports, summaries and
the multiset a re-lint compares.
"""

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Select, func, select, update
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
    fingerprint: str | None = None


@dataclass(frozen=True)
class ViolationFilter:
    """Filters of `GET /jobs/{id}/violations`; None means any."""

    rule: str | None = None
    severity: Severity | None = None
    min_severity: Severity | None = None
    file_name: str | None = None
    new_only: bool = False  # only findings new against the job's baseline
    existing_only: bool = False  # only findings the baseline has too


def violation_conditions(job_id: str, where: ViolationFilter) -> list[object]:
    conditions: list[object] = [LintingViolation.job_id == job_id]
    if where.new_only:
        conditions.append(LintingViolation.is_new.is_(True))
    if where.existing_only:
        conditions.append(LintingViolation.is_new.is_(False))
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
    conditions = violation_conditions(job_id, where)
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
        .where(*violation_conditions(job_id, where))
        .order_by(
            LintingViolation.file_name,
            LintingViolation.start_line,
            LintingViolation.start_pos,
            LintingViolation.id,
        )
    )


def all_violations(
    session: Session, job_id: str, where: ViolationFilter = ViolationFilter()
) -> list[LintingViolation]:
    """Every violation of a job (matching `where`) in file order (for reports)."""
    return list(session.scalars(_violations_in_order(job_id, where)))


def mark_existing(session: Session, job_id: str, baseline_job_id: str | None) -> None:
    """Settle which of a job's findings are new: existing (not new) those whose fingerprint its
    baseline has too. Run when the job ends, so pages and counts read a column, not a join."""
    session.execute(  # a job ending again (after a retry) is settled afresh
        update(LintingViolation)
        .where(LintingViolation.job_id == job_id, LintingViolation.is_new.is_(False))
        .values(is_new=True)
    )
    if baseline_job_id is None:
        return
    # MySQL refuses a subquery on the table an UPDATE changes unless it is a derived table it
    # materialises first; DISTINCT keeps its optimiser from merging it back.
    theirs = (
        select(LintingViolation.fingerprint)
        .where(
            LintingViolation.job_id == baseline_job_id, LintingViolation.fingerprint.is_not(None)
        )
        .distinct()
        .subquery()
    )
    session.execute(
        update(LintingViolation)
        .where(
            LintingViolation.job_id == job_id,
            LintingViolation.fingerprint.in_(select(theirs.c.fingerprint)),
        )
        .values(is_new=False)
    )


def count_by_severity(session: Session, job_id: str, new_only: bool = False) -> dict[str, int]:
    """A job's findings per severity (new ones only, with `new_only`)."""
    conditions = violation_conditions(job_id, ViolationFilter(new_only=new_only))
    counts = dict.fromkeys((s.value for s in Severity), 0)
    for severity, count in session.execute(
        select(LintingViolation.severity, func.count())
        .where(*conditions)
        .group_by(LintingViolation.severity)
    ):
        counts[Severity(severity).value] = count
    return counts


@dataclass(frozen=True)
class JobSummary:
    by_rule: dict[str, dict[str, object]]
    by_severity: dict[str, int]
    top_files: list[tuple[str, int]]


def summarize(
    session: Session, job_id: str, top: int, where: ViolationFilter = ViolationFilter()
) -> JobSummary:
    """Counts of a job's violations by rule (with its name), by severity, and its worst files
    (of its new violations only, with `where.new_only`)."""
    conditions = violation_conditions(job_id, where)
    by_rule: dict[str, dict[str, object]] = {}
    for code, name, severity, count in session.execute(
        select(
            LintingViolation.rule_code,
            func.min(LintingViolation.rule_name),
            func.min(LintingViolation.severity),
            func.count(),
        )
        .where(*conditions)
        .group_by(LintingViolation.rule_code)
        .order_by(func.count().desc(), LintingViolation.rule_code)
    ):
        by_rule[code] = {"name": name, "severity": Severity(severity).value, "count": count}
    by_severity = count_by_severity(session, job_id, where.new_only)
    if where.new_only:
        worst = (
            select(LintingViolation.file_name, func.count())
            .where(*conditions)
            .group_by(LintingViolation.file_name)
            .order_by(func.count().desc(), LintingViolation.file_name)
        )
    else:  # the per-file counts already on the task rows
        worst = (
            select(LintingTask.file_name, LintingTask.violation_count)
            .where(LintingTask.job_id == job_id, LintingTask.violation_count > 0)
            .order_by(LintingTask.violation_count.desc(), LintingTask.file_name)
        )
    top_files = [(name, count) for name, count in session.execute(worst.limit(top))]
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
