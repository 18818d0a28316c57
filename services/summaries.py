"""A job's summary: served by `GET /jobs/{id}/summary` (as `api.schemas.JobSummaryOut`) and
sent as the body of its completion callback."""

from typing import Any

from sqlalchemy.orm import Session

from db import queries
from db.models import LintingJob, TaskStatus


def job_summary(session: Session, job: LintingJob, top: int = 10) -> dict[str, Any]:
    """Counts by file-task status, rule and severity, the worst files and progress."""
    job_id = job.job_id
    counts = queries.tasks.task_counts(session, job_id)
    summary = queries.violations.summarize(session, job_id, top)
    total = sum(counts.values())
    done = counts[TaskStatus.SUCCESS] + counts[TaskStatus.FAILURE]
    return {
        "job_id": job_id,
        "job_status": job.status.value,
        "error_message": job.error_message,
        "progress": {
            "done": done,
            "total": total,
            "percent": round(100 * done / total, 1) if total else 0.0,
        },
        "tasks_by_status": {k.value: v for k, v in counts.items()},
        "violations_total": sum(summary.by_severity.values()),
        "by_severity": summary.by_severity,
        "by_rule": [{"code": c, **i} for c, i in summary.by_rule.items()],
        "top_files": [{"file_name": n, "violations": c} for n, c in summary.top_files],
    }
