"""Queries of the web UI (`api/routes/ui.py`): the jobs a key may see, newest first, and where
the files of a page of findings are stored."""

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db.models import LintingJob, LintingTask, LintingViolation, ProjectKey
from db.queries.violations import ViolationFilter, violation_conditions


def visible_jobs(
    session: Session, key_id: str | None, project_id: str | None, limit: int
) -> list[LintingJob]:
    """The latest jobs (of one project, when given) the key may read: its own and those of its
    projects; every job for None (no keys, or an admin)."""
    query = select(LintingJob)
    if project_id is not None:
        query = query.where(LintingJob.project_id == project_id)
    if key_id is not None:
        theirs = select(ProjectKey.project_id).where(ProjectKey.key_id == key_id)
        query = query.where(or_(LintingJob.api_key_id == key_id, LintingJob.project_id.in_(theirs)))
    rows = session.scalars(
        query.order_by(LintingJob.created_at.desc(), LintingJob.id.desc()).limit(limit)
    )
    return list(rows)


def source_paths(session: Session, task_ids: Sequence[str]) -> dict[str, str]:
    """task_id -> the stored file (share path) of these tasks."""
    if not task_ids:
        return {}
    return dict(
        session.execute(
            select(LintingTask.task_id, LintingTask.source_file_path).where(
                LintingTask.task_id.in_(set(task_ids))
            )
        ).all()
    )


def findings_page(
    session: Session, job_id: str, where: ViolationFilter, after_id: int, size: int
) -> list[LintingViolation]:
    """The `size` findings of a job after the one with id `after_id`, in the order they were
    written (file by file, each by position): a range of the (job_id, [is_new,] id) index, as
    fast at the end of a 20,000-file job as at its start (an OFFSET, or a sort by file name,
    would read every finding before the page)."""
    return list(
        session.scalars(
            select(LintingViolation)
            .where(*violation_conditions(job_id, where), LintingViolation.id > after_id)
            .order_by(LintingViolation.id)
            .limit(size)
        )
    )
