"""`POST /jobs` and `GET /jobs/{job_id}`: accept a submission; show a job and a page of tasks."""

import logging
import zipfile

import httpx
from fastapi import APIRouter, HTTPException, Query
from prefect.exceptions import PrefectException

from api.deps import SessionsDep, SettingsDep
from api.schemas import JobAccepted, JobCreate, JobOut, TaskItem, TaskPage
from api.trigger import trigger_lint_job
from db import repo
from db.models import SubmissionType
from flows import storage
from flows.errors import BadInput, NotAZip
from flows.job_config import check_dialect

router = APIRouter(tags=["jobs"])
logger = logging.getLogger(__name__)

BOTH_OR_NEITHER = "Either 'sql_content' or 'zip_file_path' must be provided."


@router.post("/jobs", status_code=202, response_model=JobAccepted)
def create_job(body: JobCreate, settings: SettingsDep, sessions: SessionsDep) -> JobAccepted:
    """Accept SQL text or a ZIP under the shared root, and start linting it."""
    if (body.sql_content is None) == (body.zip_file_path is None):
        raise BadInput(BOTH_OR_NEITHER)
    dialect = body.dialect or settings.SQLFLUFF_DIALECT
    check_dialect(dialect)
    root = settings.NFS_SHARE_ROOT_PATH
    job_id = repo.new_job_id()
    if body.sql_content is not None:
        if not body.sql_content.strip():
            raise BadInput("'sql_content' is empty.")
        source_path = storage.inline_source_path(job_id)
        storage.write_bytes_atomic(root / source_path, body.sql_content.encode("utf-8"))
        submission = SubmissionType.SINGLE_FILE
    else:
        archive = storage.resolve_under_root(root, body.zip_file_path or "")
        if not zipfile.is_zipfile(archive):
            raise NotAZip(f"{body.zip_file_path} is not a ZIP archive")
        source_path = archive.relative_to(root).as_posix()
        submission = SubmissionType.ZIP_ARCHIVE
    # Commit before triggering: the flow run reads this row.
    with sessions.begin() as session:
        repo.insert_job(session, job_id, submission, source_path, dialect)
    logger.info("job accepted", extra={"job_id": job_id})
    try:
        flow_run_id = trigger_lint_job(settings.LINT_DEPLOYMENT, job_id)
    except (PrefectException, httpx.HTTPError, RuntimeError) as exc:
        # The job stays ACCEPTED; the reconciler triggers it again with the same key.
        logger.warning("trigger failed, will retry: %s", exc, extra={"job_id": job_id})
        return JobAccepted(job_id=job_id)
    with sessions.begin() as session:
        repo.set_flow_run_id(session, job_id, flow_run_id)
    return JobAccepted(job_id=job_id)


@router.get("/jobs/{job_id}", response_model=JobOut)
def read_job(
    job_id: str,
    sessions: SessionsDep,
    page: int = Query(1, ge=1),
    size: int = Query(10, ge=1, le=1000),
) -> JobOut:
    """A job's status, progress and one page of its tasks."""
    with sessions() as session:
        job = repo.get_job(session, job_id)
        if job is None:
            raise HTTPException(404, "Job not found")
        rows = repo.page_tasks(session, job_id, page, size)
        counts = repo.task_counts(session, job_id)
    total = sum(counts.values())
    items = [TaskItem.from_row(r) for r in rows]
    return JobOut.from_rows(job, counts, TaskPage(total=total, page=page, size=size, items=items))
