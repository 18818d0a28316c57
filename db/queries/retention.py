"""Queries of the `cleanup` flow: jobs past retention, removing them in batches behind a
tombstone, and reading a tombstone back (GET /jobs/{id} answers 410)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, select
from sqlalchemy.orm import Session, aliased

from db.models import (
    FINAL_JOB_STATUSES,
    JobTombstone,
    LintingJob,
    LintingJobAttempt,
    LintingTask,
    LintingViolation,
    utcnow,
)


def _expired(cutoff: datetime) -> ColumnElement[bool]:
    # Only a job that has ended and not been touched since the cutoff (a retry moves
    # updated_at) expires: a running job never does. Nor does one whose stored source an
    # unfinished re-lint is reading (a re-lint lints its original's files in place).
    relint = aliased(LintingJob)
    running_relint = exists().where(
        relint.relint_of == LintingJob.job_id, relint.status.not_in(FINAL_JOB_STATUSES)
    )
    return and_(
        LintingJob.status.in_(FINAL_JOB_STATUSES),
        LintingJob.updated_at < cutoff,
        ~running_relint,
    )


def expired_job_ids(session: Session, cutoff: datetime, limit: int) -> list[str]:
    """Up to `limit` ended jobs last changed before `cutoff`, oldest first."""
    query = (
        select(LintingJob.job_id)
        .where(_expired(cutoff))
        .order_by(LintingJob.updated_at, LintingJob.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def expire_jobs(session: Session, job_ids: Sequence[str], cutoff: datetime) -> list[str]:
    """Delete these jobs with their tasks and violations, leaving a tombstone each; returns
    the ids removed. Each is checked again under a row lock, so a job retried since it was
    selected is kept."""
    rows = session.execute(
        select(LintingJob.job_id, LintingJob.api_key_id, LintingJob.created_at)
        .where(LintingJob.job_id.in_(job_ids), _expired(cutoff))
        .with_for_update()
    ).all()
    ids = [r.job_id for r in rows]
    if not ids:
        return []
    session.execute(delete(LintingViolation).where(LintingViolation.job_id.in_(ids)))
    session.execute(delete(LintingTask).where(LintingTask.job_id.in_(ids)))
    session.execute(delete(LintingJobAttempt).where(LintingJobAttempt.job_id.in_(ids)))
    session.execute(delete(LintingJob).where(LintingJob.job_id.in_(ids)))
    now = utcnow()
    session.add_all(
        JobTombstone(
            job_id=r.job_id, api_key_id=r.api_key_id, created_at=r.created_at, expired_at=now
        )  # fmt: skip
        for r in rows
    )
    session.flush()
    return ids


def get_tombstone(session: Session, job_id: str) -> JobTombstone | None:
    return session.get(JobTombstone, job_id)


def known_job_ids(session: Session, job_ids: Sequence[str]) -> set[str]:
    """Those of `job_ids` that have a job row."""
    return set(session.scalars(select(LintingJob.job_id).where(LintingJob.job_id.in_(job_ids))))
