"""Submitting jobs (JSON or upload), reading them, listing them, retrying them."""

import logging
import os
import re
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.auth import CallerDep
from api.deps import PageNumber, ReadableJob, SessionsDep, SettingsDep
from api.errors import error_responses
from api.schemas import (
    JobAccepted,
    JobCreate,
    JobExtras,
    JobList,
    JobListItem,
    JobOut,
    LintOptionsIn,
    TaskItem,
    TaskPage,
)
from api.submit import accept_job, check_callback, check_options, check_project
from db import queries
from db.models import FINAL_JOB_STATUSES, JobStatus, SubmissionType, TaskStatus
from flows.start import TRIGGER_ERRORS, start_job
from linting import storage
from linting.errors import BadInput, NotAZip

# Every error is a Problem (api/errors.py); each status these routes can answer is listed.
router = APIRouter(
    tags=["jobs"], responses=error_responses(400, 401, 403, 404, 409, 410, 413, 422, 500, 503)
)
logger = logging.getLogger(__name__)

BOTH_OR_NEITHER = "Either 'sql_content' or 'zip_file_path' must be provided."
_COPY_CHUNK = 1024 * 1024


@router.post("/jobs", status_code=202, response_model=JobAccepted)
def create_job(
    body: JobCreate, settings: SettingsDep, sessions: SessionsDep, who: CallerDep
) -> JobAccepted:
    """Accept SQL text or a ZIP under the shared root, with lint options, and start linting."""
    if (body.sql_content is None) == (body.zip_file_path is None):
        raise BadInput(BOTH_OR_NEITHER)
    checked = check_options(body, body.fix)
    check_callback(settings, body.callback_url)
    project = check_project(settings, sessions, who, body, checked, body.config)
    root = settings.NFS_SHARE_ROOT_PATH
    job_id = queries.jobs.new_job_id()
    if body.sql_content is not None:
        if not body.sql_content.strip():
            raise BadInput("'sql_content' is empty.")
        data = body.sql_content.encode("utf-8")
        if len(data) > settings.UPLOAD_MAX_BYTES:
            raise HTTPException(413, f"'sql_content' is over {settings.UPLOAD_MAX_BYTES} bytes")
        source_path = storage.inline_source_path(job_id)
        storage.write_bytes_atomic(root / source_path, data)
        submission = SubmissionType.SINGLE_FILE
    else:
        # With keys required, a key imports only from its own folder: never another's files.
        owner = who.only_own_jobs if settings.API_KEYS_REQUIRED else None
        archive = storage.resolve_import(
            root, body.zip_file_path or "", settings.IMPORT_ROOT, owner
        )
        if not zipfile.is_zipfile(archive):
            raise NotAZip(f"{body.zip_file_path} is not a ZIP archive")
        source_path = archive.relative_to(root).as_posix()
        submission = SubmissionType.ZIP_ARCHIVE
    accept_job(
        settings,
        sessions,
        job_id,
        submission,
        source_path,
        checked,
        body.config,
        body,
        who.key_id,
        project,
    )
    return JobAccepted(job_id=job_id)


def _safe_name(name: str | None) -> str:
    base = PurePosixPath((name or "").replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[:200]
    return cleaned


def _rule_list(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


@router.post(
    "/jobs/upload",
    status_code=202,
    response_model=JobAccepted,
    responses={413: {**error_responses(413)[413], "description": "Over UPLOAD_MAX_BYTES."}},
)
def upload_job(
    settings: SettingsDep,
    sessions: SessionsDep,
    who: CallerDep,
    file: Annotated[
        UploadFile,
        # `format: binary` too (OpenAPI 3.0's way), which generators read as a file to send.
        File(
            description="A .sql file or a .zip of .sql files.",
            json_schema_extra={"format": "binary"},
        ),
    ],
    dialect: Annotated[str | None, Form()] = None,
    templater: Annotated[str | None, Form()] = None,
    rules: Annotated[str | None, Form(description="Comma-separated rule codes.")] = None,
    exclude_rules: Annotated[str | None, Form(description="Comma-separated rule codes.")] = None,
    config: Annotated[str | None, Form(description="The text of a .sqlfluff file.")] = None,
    fix: Annotated[bool, Form()] = False,
    submitter: Annotated[str | None, Form()] = None,
    callback_url: Annotated[str | None, Form()] = None,
    project_id: Annotated[str | None, Form()] = None,
    baseline_job_id: Annotated[str | None, Form()] = None,
    baseline: Annotated[str | None, Form(description="'latest'")] = None,
    ref: Annotated[str | None, Form()] = None,
) -> JobAccepted:
    """Submit a file without access to the shared directory: multipart, same options as
    `POST /jobs`."""
    name = _safe_name(file.filename)
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in (".sql", ".zip"):
        raise BadInput(f"upload a .sql or .zip file, not {file.filename!r}")
    try:
        options = LintOptionsIn(
            dialect=dialect or None,
            templater=templater or None,
            rules=_rule_list(rules),
            exclude_rules=_rule_list(exclude_rules),
            config=config or None,
        )
        extras = JobExtras.model_validate(
            {
                "fix": fix,
                "submitter": submitter or None,
                "callback_url": callback_url or None,
                "project_id": project_id or None,
                "baseline_job_id": baseline_job_id or None,
                "baseline": baseline or None,
                "ref": ref or None,
            }
        )
    except ValidationError as exc:  # form fields: answered like a JSON body's (422)
        raise RequestValidationError(exc.errors()) from None
    checked = check_options(options, extras.fix)
    check_callback(settings, extras.callback_url)
    project = check_project(settings, sessions, who, extras, checked, options.config)
    job_id = queries.jobs.new_job_id()
    source_path = storage.upload_path(job_id, name)
    target = settings.NFS_SHARE_ROOT_PATH / source_path
    size = _store_upload(file, target, settings.UPLOAD_MAX_BYTES)
    if size == 0:
        target.unlink()
        raise BadInput(f"{file.filename} is empty")
    if suffix == ".zip" and not zipfile.is_zipfile(target):
        target.unlink()
        raise NotAZip(f"{file.filename} is not a ZIP archive")
    submission = SubmissionType.ZIP_ARCHIVE if suffix == ".zip" else SubmissionType.SINGLE_FILE
    accept_job(
        settings,
        sessions,
        job_id,
        submission,
        source_path,
        checked,
        options.config,
        extras,
        who.key_id,
        project,
    )
    return JobAccepted(job_id=job_id)


def _store_upload(file: UploadFile, path: Path, limit: int) -> int:
    """Copy the upload to the share, refusing it (413) past `limit` bytes. Written under a
    temp name and renamed once whole: a process killed mid-copy leaves a `.tmp-` file that no
    job points at (flows/cleanup.py removes it), never a half file under the job's name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := file.file.read(_COPY_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"upload is over the limit of {limit} bytes")
                out.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size


@router.get("/jobs", response_model=JobList)
def list_jobs(
    sessions: SessionsDep,
    who: CallerDep,
    status: JobStatus | None = None,
    submitter: str | None = None,
    since: Annotated[datetime | None, Query(description="Created at or after (UTC).")] = None,
    until: Annotated[datetime | None, Query(description="Created before (UTC).")] = None,
    page: PageNumber = 1,
    size: int = Query(20, ge=1, le=500),
) -> JobList:
    """Jobs, newest first, filtered by status, submitter and creation time (with API keys: the
    caller's own jobs, or all for an admin key)."""
    where = queries.jobs.JobFilter(
        status, submitter, _naive_utc(since), _naive_utc(until), who.only_own_jobs
    )
    with sessions() as session:
        total, rows = queries.jobs.list_jobs(session, where, page, size)
    return JobList(total=total, page=page, size=size, items=[JobListItem.from_row(r) for r in rows])


def _naive_utc(moment: datetime | None) -> datetime | None:
    """Rows hold naive UTC; an aware filter value is converted to it."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


@router.get("/jobs/{job_id}", response_model=JobOut, response_model_exclude_unset=True)
def read_job(
    job: ReadableJob,
    sessions: SessionsDep,
    page: PageNumber = 1,
    size: int = Query(10, ge=1, le=1000),
) -> JobOut:
    """A job's status, progress and one page of its file tasks."""
    with sessions() as session:
        rows = queries.tasks.page_tasks(session, job.job_id, page, size)
        counts = queries.tasks.task_counts(session, job.job_id)
    total = sum(counts.values())
    items = [TaskItem.from_row(r) for r in rows]
    return JobOut.from_rows(job, counts, TaskPage(total=total, page=page, size=size, items=items))


@router.get("/jobs/{job_id}/relints", response_model=list[JobListItem])
def read_relints(job: ReadableJob, sessions: SessionsDep) -> list[JobListItem]:
    """The re-lints of a job (flow `relint`), oldest first, each with what changed."""
    with sessions() as session:
        return [JobListItem.from_row(j) for j in queries.jobs.relints_of(session, job.job_id)]


@router.post(
    "/jobs/{job_id}/retry",
    status_code=202,
    response_model=JobAccepted,
    responses=error_responses(404, 409, 503),
)
def retry_job(job: ReadableJob, settings: SettingsDep, sessions: SessionsDep) -> JobAccepted:
    """Run the job's flow again (a new flow run, visible in the Prefect UI); it lints only the
    files that are not SUCCESS."""
    job_id = job.job_id
    with sessions() as session:
        counts = queries.tasks.task_counts(session, job_id)
    if job.status not in FINAL_JOB_STATUSES:
        raise HTTPException(409, f"job is {job.status.value}; retry it once it has ended")
    if job.status == JobStatus.COMPLETED:
        raise HTTPException(409, "job COMPLETED: every file was linted, nothing to retry")
    try:
        flow_run_id = start_job(settings, sessions, job, retry=True)
    except TRIGGER_ERRORS as exc:
        # Nothing changed (the row is written after the trigger): the caller may simply retry.
        logger.warning("retry not started: %s", exc, extra={"job_id": job_id})
        raise HTTPException(
            503,
            f"the job's flow run could not be started ({exc}); nothing changed, retry shortly",
            {"Retry-After": "5"},
        ) from None
    logger.info(
        "job retried (%d failed files)",
        counts[TaskStatus.FAILURE],
        extra={"job_id": job_id, "flow_run_id": flow_run_id},
    )
    return JobAccepted(job_id=job_id)
