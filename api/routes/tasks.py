"""One task's outputs: its result file, and for `fix` jobs the fixed SQL and its diff."""

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from api.auth import Caller, CallerDep, check_may_read
from api.deps import SessionsDep, SettingsDep
from api.errors import error_responses
from db import queries
from db.models import LintingJob, LintingTask, TaskStatus
from linting import storage
from linting.options import JobOptions

# Every error is a Problem (api/errors.py); each status these routes can answer is listed.
router = APIRouter(tags=["tasks"], responses=error_responses(401, 403, 404, 409, 422, 500, 503))


def _succeeded_task(
    sessions: SessionsDep, task_id: str, who: Caller
) -> tuple[LintingTask, LintingJob]:
    """The task and its job, once the caller may read it and it has succeeded."""
    with sessions() as session:
        task = queries.tasks.get_task(session, task_id)
        job = queries.jobs.get_job(session, task.job_id) if task else None
    if task is None or job is None:
        raise HTTPException(404, "Task not found")
    check_may_read(who, job)
    if task.status == TaskStatus.FAILURE:
        raise HTTPException(409, f"Task failed, it has no result: {task.error_message}")
    if task.status != TaskStatus.SUCCESS or not task.result_file_path:
        raise HTTPException(409, f"Task is {task.status.value}, its result is not ready yet")
    return task, job


@router.get("/tasks/{task_id}/result", response_class=FileResponse)
def read_result(
    task_id: str, settings: SettingsDep, sessions: SessionsDep, who: CallerDep
) -> FileResponse:
    """The SQLFluff JSON of one file (as `sqlfluff lint --format json` prints it)."""
    task, _ = _succeeded_task(sessions, task_id, who)
    path = settings.NFS_SHARE_ROOT_PATH / str(task.result_file_path)
    if not path.is_file():
        raise HTTPException(404, "Result file not found")
    return FileResponse(path, media_type="application/json")


def _fix_output(
    settings: SettingsDep, sessions: SessionsDep, who: Caller, task_id: str, suffix: str
) -> Path:
    task, job = _succeeded_task(sessions, task_id, who)
    if not JobOptions.from_json(job.options, job.dialect).fix:
        raise HTTPException(409, "this job did not ask for fixes; submit it with fix: true")
    path = settings.NFS_SHARE_ROOT_PATH / storage.fixed_path(task.job_id, task_id, suffix)
    if not path.is_file():
        raise HTTPException(404, "Fixed file not found")
    return path


@router.get("/tasks/{task_id}/fixed", response_class=FileResponse)
def read_fixed(
    task_id: str, settings: SettingsDep, sessions: SessionsDep, who: CallerDep
) -> FileResponse:
    """The file as `sqlfluff fix` leaves it (same bytes and encoding); unchanged if nothing
    could be fixed."""
    path = _fix_output(settings, sessions, who, task_id, ".sql")
    return FileResponse(path, media_type="application/sql")


@router.get("/tasks/{task_id}/diff", response_class=FileResponse)
def read_diff(
    task_id: str, settings: SettingsDep, sessions: SessionsDep, who: CallerDep
) -> FileResponse:
    """A unified diff from the submitted file to the fixed one (empty if nothing changed)."""
    path = _fix_output(settings, sessions, who, task_id, ".diff")
    return FileResponse(path, media_type="text/x-diff; charset=utf-8")
