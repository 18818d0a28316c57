"""`GET /tasks/{task_id}/result`: the result file of a linted file."""

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from api.deps import SessionsDep, SettingsDep
from db import repo
from db.models import TaskStatus

router = APIRouter(tags=["tasks"])


@router.get("/tasks/{task_id}/result", response_class=FileResponse)
def read_result(task_id: str, settings: SettingsDep, sessions: SessionsDep) -> FileResponse:
    """The SQLFluff JSON of one file (as `sqlfluff lint --format json` prints it)."""
    with sessions() as session:
        task = repo.get_task(session, task_id)
    if task is None:
        raise HTTPException(404, "Task not found")
    if task.status == TaskStatus.FAILURE:
        raise HTTPException(409, f"Task failed, it has no result: {task.error_message}")
    if task.status != TaskStatus.SUCCESS or not task.result_file_path:
        raise HTTPException(409, f"Task is {task.status.value}, its result is not ready yet")
    path = settings.NFS_SHARE_ROOT_PATH / task.result_file_path
    if not path.is_file():
        raise HTTPException(404, "Result file not found")
    return FileResponse(path, media_type="application/json")
