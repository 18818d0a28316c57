"""What `GET /metrics` reports from the tables: jobs and file tasks by status, throughput and
the lint-duration histogram.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import (
    JobStatus,
    LintingJob,
    LintingTask,
    TaskStatus,
)

LINT_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class ServiceCounts:
    """What GET /metrics reports from the tables."""

    jobs: dict[JobStatus, int]
    tasks: dict[TaskStatus, int]
    finished_last_minute: int
    lint_buckets: list[tuple[float, int]]  # (upper bound, files at or under it), cumulative
    lint_count: int
    lint_sum: float


def service_counts(session: Session, now: datetime) -> ServiceCounts:
    jobs = dict.fromkeys(JobStatus, 0)
    for status, n in session.execute(
        select(LintingJob.status, func.count()).group_by(LintingJob.status)
    ):
        jobs[JobStatus(status)] = n
    tasks = dict.fromkeys(TaskStatus, 0)
    for status, n in session.execute(
        select(LintingTask.status, func.count()).group_by(LintingTask.status)
    ):
        tasks[TaskStatus(status)] = n
    finished = session.scalar(
        select(func.count())
        .select_from(LintingTask)
        .where(
            LintingTask.status.in_([TaskStatus.SUCCESS, TaskStatus.FAILURE]),
            LintingTask.updated_at >= now - timedelta(seconds=60),
        )
    )
    seconds = LintingTask.lint_seconds
    row = session.execute(
        select(
            func.count(seconds),
            func.coalesce(func.sum(seconds), 0.0),
            *(func.sum(case((seconds <= bound, 1), else_=0)) for bound in LINT_SECONDS_BUCKETS),
        )
    ).one()
    return ServiceCounts(
        jobs,
        tasks,
        finished or 0,
        [(bound, int(n or 0)) for bound, n in zip(LINT_SECONDS_BUCKETS, row[2:], strict=True)],
        int(row[0] or 0),
        float(row[1] or 0.0),
    )
