"""A job's summary: served by `GET /jobs/{id}/summary` (as `api.schemas.JobSummaryOut`) and
sent as the body of its completion callback."""

from typing import Any

from sqlalchemy.orm import Session

from db import queries
from db.models import LintingJob, TaskStatus


def job_summary(
    session: Session, job: LintingJob, top: int = 10, new_only: bool = False
) -> dict[str, Any]:
    """Counts by file-task status, rule and severity, the worst files and progress (of the
    findings new against the job's baseline only, with `new_only`), and the gate verdict."""
    job_id = job.job_id
    counts = queries.tasks.task_counts(session, job_id)
    where = queries.violations.ViolationFilter(new_only=new_only)
    summary = queries.violations.summarize(session, job_id, top, where)
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
        "new_only": new_only,
        "baseline_job_id": job.baseline_job_id,
        "new_by_severity": queries.violations.count_by_severity(session, job_id, True)
        if job.baseline_job_id
        else None,
        "gate": job.gate_verdict,
    }
