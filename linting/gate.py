"""Quality gates: a project's conditions on a job's findings, and the verdict on one job.

A gate is `{"on": "new" | "all", "max": {"BLOCKER": 0, "MAJOR": 5}, "allow_failed_files":
false}`: at most that many findings of each listed severity, counted on the findings that are
new against the job's baseline (every finding, when the job has no baseline) or on all of them.
A job that FAILED fails its gate; so does one with files that could not be linted, unless
`allow_failed_files`.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from db import queries
from db.models import JobStatus, Severity, TaskStatus


def evaluate(
    gate: Mapping[str, Any],
    status: JobStatus,
    failed_files: int,
    counts: Mapping[str, int],
) -> dict[str, Any]:
    """The verdict: `{"status": "passed"|"failed", "on": ..., "reasons": [...], "counts": ...}`
    where `counts` are the findings per severity the gate counts (new ones or all)."""
    on = str(gate.get("on", "new"))
    reasons: list[str] = []
    if status == JobStatus.FAILED:
        reasons.append("the job FAILED")
    if failed_files and not gate.get("allow_failed_files", False):
        reasons.append(f"{failed_files} file(s) could not be linted")
    limits: Mapping[str, int] = gate.get("max") or {}
    for severity in reversed(Severity):  # worst first
        if severity.value not in limits:
            continue
        found, allowed = counts.get(severity.value, 0), int(limits[severity.value])
        if found > allowed:
            reasons.append(f"{found} {on} {severity.value} finding(s), at most {allowed} allowed")
    return {
        "status": "failed" if reasons else "passed",
        "on": on,
        "reasons": reasons,
        "counts": dict(counts),
    }


def settle(session: Session, job_id: str, status: JobStatus) -> dict[str, Any] | None:
    """When a job ends: settle which of its findings are new against its baseline, count them
    once, then judge the job by its project's gate and store the verdict on it. Returns the
    verdict (None: the job has no project, or its project no gate)."""
    job = queries.jobs.get_job(session, job_id)
    if job is None:
        return None
    queries.violations.mark_existing(session, job_id, job.baseline_job_id)
    counts = {
        "all": queries.violations.count_by_severity(session, job_id),
        "new": queries.violations.count_by_severity(session, job_id, new_only=True),
    }
    queries.projects.set_job_fields(session, job_id, finding_counts=counts)
    if job.project_id is None:
        return None
    project = queries.projects.get_project(session, job.project_id)
    if project is None or not project.gate:
        return None
    on = "new" if project.gate.get("on", "new") == "new" else "all"
    failed = queries.tasks.task_counts(session, job_id)[TaskStatus.FAILURE]
    verdict = evaluate(project.gate, status, failed, counts[on])
    verdict["baseline_job_id"] = job.baseline_job_id
    queries.projects.set_job_fields(session, job_id, gate_verdict=verdict)
    return verdict
