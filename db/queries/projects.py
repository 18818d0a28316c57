"""Queries on `projects` and `project_keys`, and the project side of jobs: the latest job on a
ref (a baseline), gate verdicts, a project's history (trend).
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import JobStatus, LintingJob, LintingViolation, Project, ProjectKey, utcnow


def new_project_id() -> str:
    return f"proj-{uuid.uuid4().hex[:16]}"


def insert_project(session: Session, project: Project, key_ids: Sequence[str]) -> Project:
    session.add(project)
    session.flush()
    set_project_keys(session, project.project_id, key_ids)
    return project


def get_project(session: Session, project_id: str) -> Project | None:
    return session.scalar(select(Project).where(Project.project_id == project_id))


def update_project(session: Session, project_id: str, values: dict[str, Any]) -> None:
    session.execute(
        update(Project)
        .where(Project.project_id == project_id)
        .values(**values, updated_at=utcnow())
    )


def set_project_keys(session: Session, project_id: str, key_ids: Sequence[str]) -> None:
    session.query(ProjectKey).filter(ProjectKey.project_id == project_id).delete()
    session.add_all(ProjectKey(project_id=project_id, key_id=k) for k in sorted(set(key_ids)))
    session.flush()


def project_keys(session: Session, project_id: str) -> list[str]:
    return list(
        session.scalars(
            select(ProjectKey.key_id)
            .where(ProjectKey.project_id == project_id)
            .order_by(ProjectKey.key_id)
        )
    )


def list_projects(
    session: Session, key_id: str | None, page: int, size: int
) -> tuple[int, list[Project]]:
    """Projects by creation, those of `key_id` only when it is set."""
    query = select(Project)
    if key_id is not None:
        query = query.where(
            Project.project_id.in_(select(ProjectKey.project_id).where(ProjectKey.key_id == key_id))
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Project.id).offset((page - 1) * size).limit(size))
    return total, list(rows)


def latest_completed_job(session: Session, project_id: str, ref: str | None) -> str | None:
    """The project's last COMPLETED job (on `ref`, when given): `baseline: latest`."""
    query = select(LintingJob.job_id).where(
        LintingJob.project_id == project_id, LintingJob.status == JobStatus.COMPLETED
    )
    if ref is not None:
        query = query.where(LintingJob.ref == ref)
    return session.scalar(query.order_by(LintingJob.created_at.desc(), LintingJob.id.desc()))


def severity_overrides_of_job(session: Session, job_id: str) -> dict[str, str]:
    """The severity overrides of the job's project ({} without a project)."""
    overrides = session.scalar(
        select(Project.severity_overrides)
        .join(LintingJob, LintingJob.project_id == Project.project_id)
        .where(LintingJob.job_id == job_id)
    )
    return dict(overrides or {})


def set_job_fields(session: Session, job_id: str, **values: object) -> None:
    """Record a job's project fields: its project, baseline, ref and config sources when it is
    created, its gate verdict and finding counts when it ends."""
    session.execute(update(LintingJob).where(LintingJob.job_id == job_id).values(**values))


def project_jobs(
    session: Session, project_id: str, ref: str | None, limit: int
) -> list[LintingJob]:
    """The project's latest `limit` jobs (on `ref`, when given), oldest first."""
    query = select(LintingJob).where(LintingJob.project_id == project_id)
    if ref is not None:
        query = query.where(LintingJob.ref == ref)
    rows = session.scalars(
        query.order_by(LintingJob.created_at.desc(), LintingJob.id.desc()).limit(limit)
    )
    return list(reversed(list(rows)))


def severity_counts(session: Session, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Findings per severity of each job."""
    out: dict[str, dict[str, int]] = {j: {} for j in job_ids}
    for job_id, severity, count in session.execute(
        select(LintingViolation.job_id, LintingViolation.severity, func.count())
        .where(LintingViolation.job_id.in_(job_ids))
        .group_by(LintingViolation.job_id, LintingViolation.severity)
    ):
        out[job_id][getattr(severity, "value", severity)] = count
    return out


def fingerprint_diff(
    session: Session, old_job: str, new_job: str, limit: int
) -> tuple[list[LintingViolation], list[LintingViolation]]:
    """Findings of `old_job` whose fingerprint `new_job` no longer has (fixed), and those of
    `new_job` that `old_job` did not have (introduced), at most `limit` of each."""

    def only_in(job: str, other: str) -> list[LintingViolation]:
        theirs = select(LintingViolation.fingerprint).where(
            LintingViolation.job_id == other, LintingViolation.fingerprint.is_not(None)
        )
        return list(
            session.scalars(
                select(LintingViolation)
                .where(
                    LintingViolation.job_id == job,
                    LintingViolation.fingerprint.is_not(None),
                    LintingViolation.fingerprint.not_in(theirs),
                )
                .order_by(LintingViolation.file_name, LintingViolation.start_line)
                .limit(limit)
            )
        )

    return only_in(old_job, new_job), only_in(new_job, old_job)
