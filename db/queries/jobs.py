"""Queries on `linting_jobs`: insert, read, list, state changes, callbacks and re-lint links.

Like every module of `db.queries`: functions take the caller's Session, flush when they need
ids, and never commit (the caller owns the unit of work).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, true, update
from sqlalchemy.orm import Session

from db.models import (
    FINAL_JOB_STATUSES,
    JobStatus,
    LintingJob,
    LintingJobAttempt,
    SubmissionType,
    utcnow,
)

# The callback status of a delivery in flight (claimed by one API process).
SENDING = "sending"


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
    """Add a job in ACCEPTED state, with its first attempt."""
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
        attempt=1,
    )
    session.add(job)
    session.add(LintingJobAttempt(job_id=job_id, number=1))
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> LintingJob | None:
    return session.scalar(select(LintingJob).where(LintingJob.job_id == job_id))


def set_flow_run_id(session: Session, job_id: str, flow_run_id: str, attempt: int = 1) -> bool:
    """Record the flow run triggered for the job's attempt `attempt`.

    Conditional: only while that attempt is the job's current one and has no other run (a run
    that already crashed and was retried must not be written back). Returns whether it was.
    """
    result = session.execute(
        update(LintingJob)
        .where(
            LintingJob.job_id == job_id,
            LintingJob.attempt == attempt,
            or_(LintingJob.flow_run_id.is_(None), LintingJob.flow_run_id == flow_run_id),
        )
        .values(flow_run_id=flow_run_id, retry_after=None, updated_at=utcnow())
    )
    if result.rowcount:  # type: ignore[attr-defined]
        _update_attempt(session, job_id, attempt, flow_run_id=flow_run_id)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _update_attempt(session: Session, job_id: str, number: int, **values: object) -> None:
    session.execute(
        update(LintingJobAttempt)
        .where(LintingJobAttempt.job_id == job_id, LintingJobAttempt.number == number)
        .values(**values)
    )


def requeue_job(session: Session, job_id: str, flow_run_id: str) -> None:
    """ACCEPTED again with a new flow run, as a new attempt (`POST /jobs/{id}/retry`)."""
    job = get_job(session, job_id)
    number = (job.attempt if job is not None else 0) + 1
    session.execute(
        update(LintingJob)
        .where(LintingJob.job_id == job_id)
        .values(
            status=JobStatus.ACCEPTED,
            error_message=None,
            flow_run_id=flow_run_id,
            callback_status=None,
            attempt=number,
            retry_after=None,
            updated_at=utcnow(),
        )
    )
    session.add(LintingJobAttempt(job_id=job_id, number=number, flow_run_id=flow_run_id))
    session.flush()


def schedule_retry(
    session: Session, job: LintingJob, flow_run_id: str | None, reason: str, retry_after: datetime
) -> bool:
    """End the job's current attempt with `reason` and queue the next one: ACCEPTED, no flow
    run, not triggered before `retry_after` (the reconciler triggers it).

    Conditional on the job being unfinished and still on `job.attempt` run by `flow_run_id`, so
    of several API instances and hooks seeing the same end, one wins. Returns whether it did.
    """
    number = job.attempt  # the update below refreshes `job` in this session
    now = utcnow()
    result = session.execute(
        update(LintingJob)
        .where(
            LintingJob.job_id == job.job_id,
            LintingJob.attempt == number,
            _run_is(flow_run_id),
            LintingJob.status.not_in(list(FINAL_JOB_STATUSES)),
        )
        .values(
            status=JobStatus.ACCEPTED,
            error_message=None,
            flow_run_id=None,
            attempt=number + 1,
            retry_after=retry_after,
            updated_at=now,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    _update_attempt(session, job.job_id, number, ended_at=now, reason=reason[:4000])
    session.add(LintingJobAttempt(job_id=job.job_id, number=number + 1))
    session.flush()
    return True


def give_up(
    session: Session, job: LintingJob, flow_run_id: str | None, reason: str, message: str
) -> bool:
    """End the job's last attempt with `reason` and the job FAILED with `message`; conditional
    like `schedule_retry`. Returns whether it did."""
    number = job.attempt  # the update below refreshes `job` in this session
    now = utcnow()
    result = session.execute(
        update(LintingJob)
        .where(
            LintingJob.job_id == job.job_id,
            LintingJob.attempt == number,
            _run_is(flow_run_id),
            LintingJob.status.not_in(list(FINAL_JOB_STATUSES)),
        )
        .values(status=JobStatus.FAILED, error_message=message, retry_after=None, updated_at=now)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    _update_attempt(session, job.job_id, number, ended_at=now, reason=reason[:4000])
    return True


def end_attempt(session: Session, job_id: str, reason: str | None) -> None:
    """Close the job's current attempt (the run that set its final status: `reason` None)."""
    job = get_job(session, job_id)
    if job is not None:
        _update_attempt(session, job_id, job.attempt, ended_at=utcnow(), reason=reason)


def _run_is(flow_run_id: str | None) -> ColumnElement[bool]:
    if flow_run_id is None:
        return LintingJob.flow_run_id.is_(None)
    return LintingJob.flow_run_id == flow_run_id


def attempts_of(session: Session, job_id: str) -> list[LintingJobAttempt]:
    return list(
        session.scalars(
            select(LintingJobAttempt)
            .where(LintingJobAttempt.job_id == job_id)
            .order_by(LintingJobAttempt.number)
        )
    )


def mark_job_processing(session: Session, job_id: str, flow_run_id: str | None) -> bool:
    """PROCESSING, if `flow_run_id` is the job's current run; returns whether it was.

    Its run: the one recorded on the job, or, while none is (the trigger's answer not written
    yet), any run but one of its earlier attempts. So a superseded run (a crashed attempt whose
    process lived on, a stale run retried by hand) never takes a job back; the job's own run
    retried in Prefect's UI does, even from a final state. Without a run id (outside Prefect),
    unconditional.
    """
    job = get_job(session, job_id)
    if job is None:
        return False
    if flow_run_id and job.flow_run_id not in (None, flow_run_id):
        return False
    if flow_run_id and job.flow_run_id is None:
        earlier = {a.flow_run_id for a in attempts_of(session, job_id) if a.number < job.attempt}
        if flow_run_id in earlier:
            return False
    now = utcnow()
    values: dict[str, object] = {
        "status": JobStatus.PROCESSING,
        "error_message": None,
        "updated_at": now,
        "heartbeat_at": now,
        "callback_status": None,  # a run that ends again calls back again
        "retry_after": None,
    }
    if flow_run_id:
        values["flow_run_id"] = flow_run_id
    result = session.execute(
        update(LintingJob)
        .where(
            LintingJob.job_id == job_id,
            LintingJob.attempt == job.attempt,
            _run_is(job.flow_run_id) if flow_run_id else true(),
        )
        .values(**values)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    attempt: dict[str, object] = {"started_at": now, "ended_at": None, "reason": None}
    if flow_run_id:
        attempt["flow_run_id"] = flow_run_id
    _update_attempt(session, job_id, job.attempt, **attempt)
    return True


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
    session: Session,
    updated_before: datetime,
    limit: int = 500,
    *,
    after_id: int = 0,
    now: datetime | None = None,
) -> list[LintingJob]:
    """Jobs not final and not touched since `updated_before`, or whose automatic retry is due
    at `now` (the reconciler's worklist), in id order from `after_id` (a page).

    A running job's heartbeat counts as a touch.
    """
    touched = func.coalesce(LintingJob.heartbeat_at, LintingJob.updated_at)
    due = and_(
        LintingJob.flow_run_id.is_(None),
        LintingJob.retry_after.is_not(None),
        LintingJob.retry_after <= (now or utcnow()),
    )
    return list(
        session.scalars(
            select(LintingJob)
            .where(
                LintingJob.status.not_in(list(FINAL_JOB_STATUSES)),
                or_(touched < updated_before, due),
                LintingJob.id > after_id,
            )
            .order_by(LintingJob.id)
            .limit(limit)
        )
    )


def set_callback_status(session: Session, job_id: str, status: str) -> None:
    session.execute(
        update(LintingJob).where(LintingJob.job_id == job_id).values(callback_status=status[:1024])
    )


def claim_callbacks(
    session: Session, limit: int = 50, stale_before: datetime | None = None
) -> list[tuple[str, str]]:
    """Ended jobs with a callback not yet sent, marked "sending" by this caller; returns
    (job_id, url) of those this caller won (another API instance may race for the same).

    With `stale_before`, a job left "sending" by a claim older than that (its API process died
    mid-delivery) is claimed again.
    """
    unsent = LintingJob.callback_status.is_(None)
    if stale_before is not None:
        unsent = or_(
            unsent,
            and_(
                LintingJob.callback_status == SENDING,
                or_(
                    LintingJob.callback_claimed_at.is_(None),
                    LintingJob.callback_claimed_at < stale_before,
                ),
            ),
        )
    due = session.execute(
        select(LintingJob.job_id, LintingJob.callback_url)
        .where(
            LintingJob.status.in_(list(FINAL_JOB_STATUSES)),
            LintingJob.callback_url.is_not(None),
            unsent,
        )
        .limit(limit)
    ).all()
    won: list[tuple[str, str]] = []
    for job_id, url in due:
        result = session.execute(
            update(LintingJob)
            .where(LintingJob.job_id == job_id, unsent)
            .values(callback_status=SENDING, callback_claimed_at=utcnow())
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


def set_final_status(
    session: Session,
    job_id: str,
    status: JobStatus,
    message: str | None,
    flow_run_id: str | None = None,
) -> bool:
    """Record a job's final status and reason (decided by `linting.status.final_status`).

    With `flow_run_id`, only while that run is the job's (a superseded run decides nothing).
    Returns whether it was recorded.
    """
    stmt = update(LintingJob).where(LintingJob.job_id == job_id)
    if flow_run_id is not None:
        stmt = stmt.where(LintingJob.flow_run_id == flow_run_id)
    result = session.execute(stmt.values(status=status, error_message=message, updated_at=utcnow()))
    return bool(result.rowcount)  # type: ignore[attr-defined]
