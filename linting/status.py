"""A job's final status, decided from its file tasks' counts (the one business rule of a job's end).

COMPLETED when every file task is SUCCESS, PARTIALLY_COMPLETED when some failed, FAILED when
none could be linted, none exist, or some never finished (docs/api.md, "Statuses").
"""

from sqlalchemy.orm import Session

from db import queries
from db.models import JobStatus, TaskStatus
from linting.gate import settle


def final_status(counts: dict[TaskStatus, int]) -> tuple[JobStatus, str | None]:
    """A job's final status and error message from its file-task counts."""
    total = sum(counts.values())
    failed = counts[TaskStatus.FAILURE]
    unfinished = counts[TaskStatus.PENDING] + counts[TaskStatus.IN_PROGRESS]
    if total == 0:
        return JobStatus.FAILED, "no SQL files to lint"
    if unfinished:
        return JobStatus.FAILED, f"{unfinished} of {total} files were not linted; retry the job"
    if failed == total:
        return JobStatus.FAILED, f"all {total} files failed to lint"
    return (JobStatus.PARTIALLY_COMPLETED if failed else JobStatus.COMPLETED), None


def finish_job(
    session: Session,
    job_id: str,
    counts: dict[TaskStatus, int] | None = None,
    flow_run_id: str | None = None,
) -> tuple[JobStatus, str | None] | None:
    """Set the job's final status from its file tasks (or from `counts` already read) and
    return it with its message.

    With `flow_run_id`, only while that run is the job's; None when it is not (the run was
    superseded: another attempt owns the job now).
    """
    if counts is None:
        counts = queries.tasks.task_counts(session, job_id)
    status, message = final_status(counts)
    if not queries.jobs.set_final_status(session, job_id, status, message, flow_run_id):
        return None
    settle(session, job_id, status)  # new findings, their counts, the project's gate
    return status, message
