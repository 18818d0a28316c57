"""Queries on `linting_jobs`: insert, read, list, state changes, callbacks and re-lint links.

Like every module of `db.queries`: functions take the caller's Session, flush when they need
ids, and never commit (the caller owns the unit of work).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.models import (
    FINAL_JOB_STATUSES,
    JobStatus,
    LintingJob,
    SubmissionType,
    utcnow,
)


@dataclass(frozen=True)
class JobFilter:
    """Filters of `GET /jobs`; None means any."""

    status: JobStatus | None = None
    submitter: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    api_key_id: str | None = None  # set: only the jobs of this key


def new_job_id() -> str:
    return f"job-{uuid.uuid4()}"


def insert_job(
    session: Session,
    job_id: str,
    submission_type: SubmissionType,
    source_path: str,
    dialect: str,
    options: dict[str, object] | None = None,
    submitter: str | None = None,
    callback_url: str | None = None,
    relint_of: str | None = None,
    api_key_id: str | None = None,
) -> LintingJob:
    """Add a job in ACCEPTED state."""
    job = LintingJob(
        job_id=job_id,
        status=JobStatus.ACCEPTED,
        submission_type=submission_type,
        source_path=source_path,
        dialect=dialect,
        ignored_file_count=0,
        options=options,
        submitter=submitter,
        callback_url=callback_url,
        relint_of=relint_of,
        api_key_id=api_key_id,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> LintingJob | None:
    return session.scalar(select(LintingJob).where(LintingJob.job_id == job_id))


def set_flow_run_id(session: Session, job_id: str, flow_run_id: str) -> None:
    session.execute(
        update(LintingJob)
        .where(LintingJob.job_id == job_id)
        .values(flow_run_id=flow_run_id, updated_at=utcnow())
    )


def requeue_job(session: Session, job_id: str, flow_run_id: str) -> None:
    """ACCEPTED again with a new flow run (`POST /jobs/{id}/retry`)."""
    session.execute(
        update(LintingJob)
        .where(LintingJob.job_id == job_id)
        .values(
            status=JobStatus.ACCEPTED,
            error_message=None,
            flow_run_id=flow_run_id,
            callback_status=None,
            updated_at=utcnow(),
        )
    )


def mark_job_processing(session: Session, job_id: str, flow_run_id: str | None) -> None:
    """PROCESSING, also from a final state: a retried run of a job starts it again."""
    now = utcnow()
    values: dict[str, object] = {
        "status": JobStatus.PROCESSING,
        "error_message": None,
        "updated_at": now,
        "heartbeat_at": now,
        "callback_status": None,  # a run that ends again calls back again
    }
    if flow_run_id:
        values["flow_run_id"] = flow_run_id
    session.execute(update(LintingJob).where(LintingJob.job_id == job_id).values(**values))


def beat(session: Session, job_id: str) -> None:
    """Mark a running job alive (see `LintingJob.heartbeat_at`)."""
    session.execute(
        update(LintingJob).where(LintingJob.job_id == job_id).values(heartbeat_at=utcnow())
    )


def set_ignored_file_count(session: Session, job_id: str, count: int) -> None:
    session.execute(
        update(LintingJob)
        .where(LintingJob.job_id == job_id)
        .values(ignored_file_count=count, updated_at=utcnow())
    )


def fail_job(session: Session, job_id: str, message: str, *, only_if_unfinished: bool) -> bool:
    """Set FAILED with a reason; with `only_if_unfinished`, leave a final job as it is.

    Returns:
        Whether a row changed.
    """
    stmt = update(LintingJob).where(LintingJob.job_id == job_id)
    if only_if_unfinished:
        stmt = stmt.where(LintingJob.status.not_in(list(FINAL_JOB_STATUSES)))
    result = session.execute(
        stmt.values(status=JobStatus.FAILED, error_message=message, updated_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def unfinished_jobs(
    session: Session, updated_before: datetime, limit: int = 500
) -> list[LintingJob]:
    """Jobs not final and not touched since `updated_before` (the reconciler's worklist).

    A running job's heartbeat counts as a touch.
    """
    touched = func.coalesce(LintingJob.heartbeat_at, LintingJob.updated_at)
    return list(
        session.scalars(
            select(LintingJob)
            .where(
                LintingJob.status.not_in(list(FINAL_JOB_STATUSES)),
                touched < updated_before,
            )
            .order_by(LintingJob.id)
            .limit(limit)
        )
    )


def set_callback_status(session: Session, job_id: str, status: str) -> None:
    session.execute(
        update(LintingJob).where(LintingJob.job_id == job_id).values(callback_status=status[:1024])
    )


def claim_callbacks(session: Session, limit: int = 50) -> list[tuple[str, str]]:
    """Ended jobs with a callback not yet sent, marked "sending" by this caller; returns
    (job_id, url) of those this caller won (another API instance may race for the same)."""
    due = session.execute(
        select(LintingJob.job_id, LintingJob.callback_url)
        .where(
            LintingJob.status.in_(list(FINAL_JOB_STATUSES)),
            LintingJob.callback_url.is_not(None),
            LintingJob.callback_status.is_(None),
        )
        .limit(limit)
    ).all()
    won: list[tuple[str, str]] = []
    for job_id, url in due:
        result = session.execute(
            update(LintingJob)
            .where(LintingJob.job_id == job_id, LintingJob.callback_status.is_(None))
            .values(callback_status="sending")
        )
        if result.rowcount:  # type: ignore[attr-defined]
            won.append((job_id, url))
    return won


def list_jobs(
    session: Session, where: JobFilter, page: int, size: int
) -> tuple[int, list[LintingJob]]:
    """Jobs matching the filter, newest first, and how many match in all."""
    conditions = []
    if where.status is not None:
        conditions.append(LintingJob.status == where.status)
    if where.submitter is not None:
        conditions.append(LintingJob.submitter == where.submitter)
    if where.api_key_id is not None:
        conditions.append(LintingJob.api_key_id == where.api_key_id)
    if where.since is not None:
        conditions.append(LintingJob.created_at >= where.since)
    if where.until is not None:
        conditions.append(LintingJob.created_at < where.until)
    total = session.scalar(select(func.count()).select_from(LintingJob).where(*conditions)) or 0
    rows = session.scalars(
        select(LintingJob)
        .where(*conditions)
        .order_by(LintingJob.created_at.desc(), LintingJob.id.desc())
        .offset((page - 1) * size)
        .limit(size)
    )
    return total, list(rows)


def relint_candidates(
    session: Session,
    created_before: datetime,
    statuses: Sequence[JobStatus],
    dialect: str | None,
    limit: int,
) -> list[LintingJob]:
    """Original jobs (not re-lints themselves) to re-lint, oldest first."""
    conditions = [
        LintingJob.created_at <= created_before,
        LintingJob.status.in_(list(statuses)),
        LintingJob.relint_of.is_(None),
    ]
    if dialect is not None:
        conditions.append(LintingJob.dialect == dialect)
    return list(
        session.scalars(
            select(LintingJob).where(*conditions).order_by(LintingJob.created_at).limit(limit)
        )
    )


def set_relint_changes(session: Session, job_id: str, changes: dict[str, object]) -> None:
    session.execute(
        update(LintingJob).where(LintingJob.job_id == job_id).values(relint_changes=changes)
    )


def relints_of(session: Session, job_id: str) -> list[LintingJob]:
    return list(
        session.scalars(
            select(LintingJob).where(LintingJob.relint_of == job_id).order_by(LintingJob.id)
        )
    )


def set_final_status(session: Session, job_id: str, status: JobStatus, message: str | None) -> None:
    """Record a job's final status and reason (decided by `linting.status.final_status`)."""
    session.execute(
        update(LintingJob)
        .where(LintingJob.job_id == job_id)
        .values(status=status, error_message=message, updated_at=utcnow())
    )
