"""Queries on `linting_tasks`, one row per file of a job (a *file task*): created once per
file, marked as files finish (with their violations), counted and paged.
"""

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

from db.models import (
    LintingTask,
    LintingViolation,
    TaskStatus,
    utcnow,
)
from db.queries import counters
from db.queries.violations import Violation

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
class TaskOutcome:
    """What linting one file produced, as mirrored into its row and its violations."""

    task_id: str
    status: TaskStatus
    result_file_path: str | None
    error_message: str | None
    violation_count: int | None
    file_name: str = ""
    job_id: str = ""
    effective_config: dict[str, object] | None = None
    violations: tuple[Violation, ...] = ()
    lint_seconds: float | None = None
    lint_host: str | None = None


def path_hash(source_file_path: str) -> str:
    return hashlib.sha256(source_file_path.encode("utf-8")).hexdigest()


def get_task(session: Session, task_id: str) -> LintingTask | None:
    return session.scalar(select(LintingTask).where(LintingTask.task_id == task_id))


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, object]]) -> None:
    table = LintingTask.__table__
    name = session.get_bind().dialect.name
    if name == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    elif name in ("mysql", "mariadb"):
        # A no-op update on the unique key: rows already there stay untouched.
        ins = mysql.insert(table)
        stmt = ins.on_duplicate_key_update(job_id=ins.inserted.job_id)
    else:  # pragma: no cover - only the two backends of docs/api.md, Tables are supported
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
    """Mirror finished files onto their rows and replace their violations, in executemanys
    (a file linted again, by a retry or a re-run task, keeps only its latest violations)."""
    if not outcomes:
        return
    ids = [o.task_id for o in outcomes]
    session.execute(delete(LintingViolation).where(LintingViolation.task_id.in_(ids)))
    # Core inserts of plain dicts: the ORM's bulk path and `asdict`'s deep copies were most of
    # a cached re-lint's writes (10,000 findings for 611 files).
    violations = [
        {"job_id": o.job_id, "task_id": o.task_id, "file_name": o.file_name, **vars(f)}
        for o in outcomes
        for f in o.violations
    ]
    insert_violations = insert(LintingViolation.__table__)
    for start in range(0, len(violations), _INSERT_CHUNK):
        session.execute(insert_violations, violations[start : start + _INSERT_CHUNK])
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
    counters.add(
        session,
        counters.for_files([(o.status, o.violation_count, o.lint_seconds) for o in outcomes]),
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


def all_tasks(session: Session, job_id: str) -> list[LintingTask]:
    return list(
        session.scalars(
            select(LintingTask).where(LintingTask.job_id == job_id).order_by(LintingTask.file_name)
        )
    )
