"""A job's summary: served by `GET /jobs/{id}/summary` and sent by its completion callback."""

from sqlalchemy.orm import Session

from api.schemas import FileCount, JobSummaryOut, Progress, RuleCount
from db import queries
from db.models import LintingJob, TaskStatus


def job_summary(session: Session, job: LintingJob, top: int = 10) -> JobSummaryOut:
    """Counts by task status, rule and severity, the worst files and progress."""
    job_id = job.job_id
    counts = queries.tasks.task_counts(session, job_id)
    summary = queries.findings.summarize(session, job_id, top)
    total = sum(counts.values())
    done = counts[TaskStatus.SUCCESS] + counts[TaskStatus.FAILURE]
    return JobSummaryOut(
        job_id=job_id,
        job_status=job.status.value,
        error_message=job.error_message,
        progress=Progress(
            done=done, total=total, percent=round(100 * done / total, 1) if total else 0.0
        ),
        tasks_by_status={k.value: v for k, v in counts.items()},
        violations_total=sum(summary.by_severity.values()),
        by_severity=summary.by_severity,
        by_rule=[RuleCount.model_validate({"code": c, **i}) for c, i in summary.by_rule.items()],
        top_files=[FileCount(file_name=n, violations=c) for n, c in summary.top_files],
    )
