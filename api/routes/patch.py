"""`GET /jobs/{id}/patch`: one patch for a whole `fix` job (linting/patch.py)."""

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from api.deps import ReadableJob, SessionsDep, SettingsDep
from api.errors import error_responses
from db import queries
from db.models import FINAL_JOB_STATUSES, TaskStatus
from linting import storage
from linting.options import JobOptions
from linting.patch import job_patch

router = APIRouter(
    tags=["violations"], responses=error_responses(401, 403, 404, 409, 422, 500, 503)
)


@router.get(
    "/jobs/{job_id}/patch",
    response_class=Response,
    responses={200: {"content": {"text/x-diff": {}}}},
)
def read_patch(job: ReadableJob, settings: SettingsDep, sessions: SessionsDep) -> Response:
    """Every fix of the job as one git diff, paths as submitted: `git apply` it at the root of
    the submitted tree (an inline job's one file is `input.sql`). Files that could not be
    linted, or that SQLFluff left as they were, are not in it; empty when nothing changed."""
    if not JobOptions.from_json(job.options, job.dialect).fix:
        raise HTTPException(409, "this job did not ask for fixes; submit it with fix: true")
    if job.status not in FINAL_JOB_STATUSES:
        raise HTTPException(409, f"job is {job.status.value}; its patch is ready once it ends")
    root = settings.NFS_SHARE_ROOT_PATH
    with sessions() as session:
        tasks = queries.tasks.all_tasks(session, job.job_id)
    body = job_patch(
        (
            t.file_name,
            root / t.source_file_path,
            root / storage.fixed_path(job.job_id, t.task_id, ".sql"),
        )
        for t in sorted(tasks, key=lambda t: t.file_name)
        if t.status == TaskStatus.SUCCESS
    )
    return Response(
        body,
        media_type="text/x-diff",
        headers={"Content-Disposition": f'attachment; filename="{job.job_id}.diff"'},
    )
