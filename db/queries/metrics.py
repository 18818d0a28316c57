"""What `GET /metrics` reports from the tables: jobs by status (an index count) and the
service-wide counters (`service_counters`, a few rows). Never a scan of `linting_tasks`."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import JobStatus, LintingJob
from db.queries import counters


@dataclass(frozen=True)
class ServiceCounts:
    """What GET /metrics reports from the tables."""

    jobs: dict[JobStatus, int]
    counters: dict[tuple[str, str], float]


def service_counts(session: Session) -> ServiceCounts:
    jobs = dict.fromkeys(JobStatus, 0)
    for status, n in session.execute(
        select(LintingJob.status, func.count()).group_by(LintingJob.status)
    ):
        jobs[JobStatus(status)] = n
    return ServiceCounts(jobs, counters.read_all(session))
