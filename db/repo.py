"""Every SQL statement of the service. Functions take a Session, flush when needed, never commit.

The unit of work (`with sessions.begin() as session:`) belongs to the caller: a route, a flow
step or a lint batch. Writes are idempotent: reruns of a job upsert on natural keys.
"""

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

from db.models import (
    FINAL_JOB_STATUSES,
    SEVERITY_RANK,
    ApiKey,
    JobStatus,
    LintingJob,
    LintingTask,
    LintingViolation,
    Severity,
    SubmissionType,
    TaskStatus,
    utcnow,
)

# Rows per multi-row INSERT: well under MySQL's max_allowed_packet for 1 KB paths.
_INSERT_CHUNK = 1000


@dataclass(frozen=True)
class PendingFile:
    """A file of a job that still has to be linted (what a lint batch receives)."""

    task_id: str
    source_file_path: str
    file_name: str


@dataclass(frozen=True)
class NewTask:
    """A file found in a submission; `error_message` set means it is a FAILURE from the start."""

    source_file_path: str
    file_name: str
    error_message: str | None = None


@dataclass(frozen=True)
class Finding:
    """One violation of a linted file, as stored in `linting_violations`."""

    rule_code: str
    rule_name: str
    start_line: int
    start_pos: int
    end_line: int | None
    end_pos: int | None
    description: str
    severity: Severity
    warning: bool


@dataclass(frozen=True)
class TaskOutcome:
    """What linting one file produced, as mirrored into its row and its findings."""

    task_id: str
    status: TaskStatus
    result_file_path: str | None
    error_message: str | None
    violation_count: int | None
    file_name: str = ""
    job_id: str = ""
    effective_config: dict[str, object] | None = None
    findings: tuple[Finding, ...] = ()
    lint_seconds: float | None = None
    lint_host: str | None = None


@dataclass(frozen=True)
class JobFilter:
    """Filters of `GET /jobs`; None means any."""

    status: JobStatus | None = None
    submitter: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    api_key_id: str | None = None  # set: only the jobs of this key


@dataclass(frozen=True)
class ViolationFilter:
    """Filters of `GET /jobs/{id}/violations`; None means any."""

    rule: str | None = None
    severity: Severity | None = None
    min_severity: Severity | None = None
    file_name: str | None = None


def new_job_id() -> str:
    return f"job-{uuid.uuid4()}"


def path_hash(source_file_path: str) -> str:
    return hashlib.sha256(source_file_path.encode("utf-8")).hexdigest()


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


def get_task(session: Session, task_id: str) -> LintingTask | None:
    return session.scalar(select(LintingTask).where(LintingTask.task_id == task_id))


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


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, object]]) -> None:
    table = LintingTask.__table__
    name = session.get_bind().dialect.name
    if name == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    elif name in ("mysql", "mariadb"):
        # A no-op update on the unique key: rows already there stay untouched.
        ins = mysql.insert(table)
        stmt = ins.on_duplicate_key_update(job_id=ins.inserted.job_id)
    else:  # pragma: no cover - only the two backends of SPEC §4 are supported
        raise NotImplementedError(f"unsupported database: {name}")
    for start in range(0, len(rows), _INSERT_CHUNK):
        session.execute(stmt, rows[start : start + _INSERT_CHUNK])


def ensure_tasks(session: Session, job_id: str, files: Iterable[NewTask]) -> list[PendingFile]:
    """Create one task row per file of the job, once, and list those still to lint.

    Rerunning it (a retried or duplicated flow run) adds no rows: the key is
    (job_id, SHA-256 of source_file_path).

    Args:
        session: the caller's unit of work.
        job_id: the job the files belong to.
        files: every file found in the submission; entries with `error_message` are stored
            as FAILURE rows and never linted.

    Returns:
        The job's tasks that are not SUCCESS and have no fixed error at creation, in path order.
    """
    now = utcnow()
    rows: list[dict[str, object]] = [
        {
            "task_id": f"task-{uuid.uuid4()}",
            "job_id": job_id,
            "status": TaskStatus.FAILURE if f.error_message else TaskStatus.PENDING,
            "source_file_path": f.source_file_path,
            "source_path_hash": path_hash(f.source_file_path),
            "file_name": f.file_name,
            "error_message": f.error_message,
            "created_at": now,
            "updated_at": now,
        }
        for f in files
    ]
    rejected = {r["source_file_path"] for r in rows if r["error_message"]}
    if rows:
        _insert_ignoring_duplicates(session, rows)
    pending = session.execute(
        select(LintingTask.task_id, LintingTask.source_file_path, LintingTask.file_name)
        .where(LintingTask.job_id == job_id, LintingTask.status != TaskStatus.SUCCESS)
        .order_by(LintingTask.source_file_path)
    )
    return [
        PendingFile(task_id, path, name) for task_id, path, name in pending if path not in rejected
    ]


def mark_tasks(session: Session, outcomes: Sequence[TaskOutcome]) -> None:
    """Mirror finished files onto their rows and replace their findings, in executemanys
    (a file linted again, by a retry or a re-run task, keeps only its latest findings)."""
    if not outcomes:
        return
    ids = [o.task_id for o in outcomes]
    session.execute(delete(LintingViolation).where(LintingViolation.task_id.in_(ids)))
    findings = [
        {"job_id": o.job_id, "task_id": o.task_id, "file_name": o.file_name, **asdict(f)}
        for o in outcomes
        for f in o.findings
    ]
    for start in range(0, len(findings), _INSERT_CHUNK):
        session.execute(insert(LintingViolation), findings[start : start + _INSERT_CHUNK])
    table = LintingTask.__table__
    stmt = (
        update(table)
        .where(table.c.task_id == bindparam("t_id"))
        .values(
            status=bindparam("t_status"),
            result_file_path=bindparam("t_result"),
            error_message=bindparam("t_error"),
            violation_count=bindparam("t_count"),
            effective_config=bindparam("t_config", type_=LintingTask.effective_config.type),
            lint_seconds=bindparam("t_seconds"),
            lint_host=bindparam("t_host"),
            updated_at=bindparam("t_at"),
        )
    )
    now = utcnow()
    session.execute(
        stmt,
        [
            {
                "t_id": o.task_id,
                "t_status": o.status,
                "t_result": o.result_file_path,
                "t_error": o.error_message,
                "t_count": o.violation_count,
                "t_config": o.effective_config,
                "t_seconds": o.lint_seconds,
                "t_host": o.lint_host,
                "t_at": now,
            }
            for o in outcomes
        ],
    )


def mark_in_progress(session: Session, task_ids: Sequence[str]) -> set[str]:
    """Mark the tasks not yet SUCCESS as IN_PROGRESS and return the ids of those that are
    SUCCESS already (a batch run again after its worker was lost skips them)."""
    if not task_ids:
        return set()
    session.execute(
        update(LintingTask)
        .where(LintingTask.task_id.in_(task_ids), LintingTask.status != TaskStatus.SUCCESS)
        .values(status=TaskStatus.IN_PROGRESS, updated_at=utcnow())
    )
    return set(
        session.scalars(
            select(LintingTask.task_id).where(
                LintingTask.task_id.in_(task_ids), LintingTask.status == TaskStatus.SUCCESS
            )
        )
    )


def task_counts(session: Session, job_id: str) -> dict[TaskStatus, int]:
    """Tasks per status (their sum is the job's total); served by ix (job_id, status)."""
    rows = session.execute(
        select(LintingTask.status, func.count())
        .where(LintingTask.job_id == job_id)
        .group_by(LintingTask.status)
    )
    counts = dict.fromkeys(TaskStatus, 0)
    for status, count in rows:
        counts[TaskStatus(status)] = count
    return counts


def final_status(counts: dict[TaskStatus, int]) -> tuple[JobStatus, str | None]:
    """A job's final status and error message from its task counts (SPEC §4)."""
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
    session: Session, job_id: str, counts: dict[TaskStatus, int] | None = None
) -> JobStatus:
    """Set the job's final status (see `final_status`) from its task rows, or from their
    `counts` when the caller has already read them, and return it."""
    status, message = final_status(counts if counts is not None else task_counts(session, job_id))
    session.execute(
        update(LintingJob)
        .where(LintingJob.job_id == job_id)
        .values(status=status, error_message=message, updated_at=utcnow())
    )
    return status


def page_tasks(session: Session, job_id: str, page: int, size: int) -> list[LintingTask]:
    """One page of a job's tasks in the order they were created (path order)."""
    query: Select[tuple[LintingTask]] = (
        select(LintingTask)
        .where(LintingTask.job_id == job_id)
        .order_by(LintingTask.id)
        .offset((page - 1) * size)
        .limit(size)
    )
    return list(session.scalars(query))


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


def _violation_conditions(job_id: str, where: ViolationFilter) -> list[object]:
    conditions: list[object] = [LintingViolation.job_id == job_id]
    if where.rule is not None:
        conditions.append(LintingViolation.rule_code == where.rule.upper())
    if where.severity is not None:
        conditions.append(LintingViolation.severity == where.severity)
    if where.min_severity is not None:
        at_least = [s for s in Severity if SEVERITY_RANK[s] >= SEVERITY_RANK[where.min_severity]]
        conditions.append(LintingViolation.severity.in_(at_least))
    if where.file_name is not None:
        conditions.append(LintingViolation.file_name == where.file_name)
    return conditions


def list_violations(
    session: Session, job_id: str, where: ViolationFilter, page: int, size: int
) -> tuple[int, list[LintingViolation]]:
    """A job's findings matching the filter, by file and position, and how many match."""
    conditions = _violation_conditions(job_id, where)
    total = (
        session.scalar(select(func.count()).select_from(LintingViolation).where(*conditions)) or 0
    )
    rows = session.scalars(
        _violations_in_order(job_id, where).offset((page - 1) * size).limit(size)
    )
    return total, list(rows)


def _violations_in_order(job_id: str, where: ViolationFilter) -> Select[tuple[LintingViolation]]:
    return (
        select(LintingViolation)
        .where(*_violation_conditions(job_id, where))
        .order_by(
            LintingViolation.file_name,
            LintingViolation.start_line,
            LintingViolation.start_pos,
            LintingViolation.id,
        )
    )


def all_violations(session: Session, job_id: str) -> list[LintingViolation]:
    """Every finding of a job in file order (for reports)."""
    return list(session.scalars(_violations_in_order(job_id, ViolationFilter())))


def all_tasks(session: Session, job_id: str) -> list[LintingTask]:
    return list(
        session.scalars(
            select(LintingTask).where(LintingTask.job_id == job_id).order_by(LintingTask.file_name)
        )
    )


@dataclass(frozen=True)
class JobSummary:
    by_rule: dict[str, dict[str, object]]
    by_severity: dict[str, int]
    top_files: list[tuple[str, int]]


def summarize(session: Session, job_id: str, top: int) -> JobSummary:
    """Counts of a job's findings by rule (with its name), by severity, and its worst files."""
    by_rule: dict[str, dict[str, object]] = {}
    for code, name, severity, count in session.execute(
        select(
            LintingViolation.rule_code,
            func.min(LintingViolation.rule_name),
            func.min(LintingViolation.severity),
            func.count(),
        )
        .where(LintingViolation.job_id == job_id)
        .group_by(LintingViolation.rule_code)
        .order_by(func.count().desc(), LintingViolation.rule_code)
    ):
        by_rule[code] = {"name": name, "severity": Severity(severity).value, "count": count}
    by_severity = dict.fromkeys((s.value for s in Severity), 0)
    for severity, count in session.execute(
        select(LintingViolation.severity, func.count())
        .where(LintingViolation.job_id == job_id)
        .group_by(LintingViolation.severity)
    ):
        by_severity[Severity(severity).value] = count
    top_files = [
        (name, count)
        for name, count in session.execute(
            select(LintingTask.file_name, LintingTask.violation_count)
            .where(LintingTask.job_id == job_id, LintingTask.violation_count > 0)
            .order_by(LintingTask.violation_count.desc(), LintingTask.file_name)
            .limit(top)
        )
    ]
    return JobSummary(by_rule, by_severity, top_files)


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


def finding_keys(session: Session, job_id: str) -> Counter[tuple[str, str, int, int]]:
    """A job's findings as a multiset of (file, rule, line, position), to compare two runs."""
    rows = session.execute(
        select(
            LintingViolation.file_name,
            LintingViolation.rule_code,
            LintingViolation.start_line,
            LintingViolation.start_pos,
        ).where(LintingViolation.job_id == job_id)
    )
    return Counter((f, r, line, pos) for f, r, line, pos in rows)


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


LINT_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class ServiceCounts:
    """What GET /metrics reports from the tables."""

    jobs: dict[JobStatus, int]
    tasks: dict[TaskStatus, int]
    finished_last_minute: int
    lint_buckets: list[tuple[float, int]]  # (upper bound, files at or under it), cumulative
    lint_count: int
    lint_sum: float


def service_counts(session: Session, now: datetime) -> ServiceCounts:
    jobs = dict.fromkeys(JobStatus, 0)
    for status, n in session.execute(
        select(LintingJob.status, func.count()).group_by(LintingJob.status)
    ):
        jobs[JobStatus(status)] = n
    tasks = dict.fromkeys(TaskStatus, 0)
    for status, n in session.execute(
        select(LintingTask.status, func.count()).group_by(LintingTask.status)
    ):
        tasks[TaskStatus(status)] = n
    finished = session.scalar(
        select(func.count())
        .select_from(LintingTask)
        .where(
            LintingTask.status.in_([TaskStatus.SUCCESS, TaskStatus.FAILURE]),
            LintingTask.updated_at >= now - timedelta(seconds=60),
        )
    )
    seconds = LintingTask.lint_seconds
    row = session.execute(
        select(
            func.count(seconds),
            func.coalesce(func.sum(seconds), 0.0),
            *(func.sum(case((seconds <= bound, 1), else_=0)) for bound in LINT_SECONDS_BUCKETS),
        )
    ).one()
    return ServiceCounts(
        jobs,
        tasks,
        finished or 0,
        [(bound, int(n or 0)) for bound, n in zip(LINT_SECONDS_BUCKETS, row[2:], strict=True)],
        int(row[0] or 0),
        float(row[1] or 0.0),
    )


def add_api_key(session: Session, key_id: str, key_hash: str, name: str, admin: bool) -> None:
    session.add(ApiKey(key_id=key_id, key_hash=key_hash, name=name, is_admin=admin))
    session.flush()


def get_api_key(session: Session, key_id: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))


def revoke_api_key(session: Session, key_id: str) -> bool:
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def set_job_api_key(session: Session, job_id: str, key_id: str) -> None:
    session.execute(update(LintingJob).where(LintingJob.job_id == job_id).values(api_key_id=key_id))
