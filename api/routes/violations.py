"""A job's violations: filtered pages, a summary, and reports in the formats tools read."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api import reports
from api.deps import PageNumber, ReadableJob, SessionsDep, SettingsDep
from api.errors import error_responses
from api.reports.sarif import MAX_RESULTS
from api.reports.sarif import sarif as to_sarif
from api.schemas import JobSummaryOut, ViolationOut, ViolationPage
from db import queries
from db.models import SEVERITY_RANK, Severity
from services.summaries import job_summary

# Every error is a Problem (api/errors.py); each status these routes can answer is listed.
router = APIRouter(
    tags=["violations"], responses=error_responses(401, 403, 404, 410, 422, 500, 503)
)


@router.get("/jobs/{job_id}/violations", response_model=ViolationPage)
def read_violations(
    job: ReadableJob,
    sessions: SessionsDep,
    rule: Annotated[str | None, Query(description="A rule code, e.g. LT01.")] = None,
    severity: Annotated[Severity | None, Query(description="Exactly this severity.")] = None,
    min_severity: Annotated[Severity | None, Query(description="This severity or worse.")] = None,
    file: Annotated[str | None, Query(description="A file name as in the job's tasks.")] = None,
    new_only: Annotated[
        bool, Query(description="Only findings new against the job's baseline.")
    ] = False,
    page: PageNumber = 1,
    size: int = Query(50, ge=1, le=1000),
) -> ViolationPage:
    """The job's violations, by file and position."""
    where = queries.violations.ViolationFilter(rule, severity, min_severity, file, new_only)
    with sessions() as session:
        total, rows = queries.violations.list_violations(session, job.job_id, where, page, size)
    items = [ViolationOut.model_validate(r) for r in rows]
    return ViolationPage(total=total, page=page, size=size, items=items)


@router.get("/jobs/{job_id}/summary", response_model=JobSummaryOut)
def read_summary(
    job: ReadableJob,
    sessions: SessionsDep,
    top: int = Query(10, ge=1, le=1000, description="How many of the worst files to list."),
    new_only: Annotated[
        bool, Query(description="Only findings new against the job's baseline.")
    ] = False,
) -> JobSummaryOut:
    """Counts by task status, rule and severity; the worst files; progress while it runs."""
    with sessions() as session:
        return JobSummaryOut.model_validate(job_summary(session, job, top, new_only))


@router.get(
    "/jobs/{job_id}/report",
    response_class=Response,
    responses={200: {"content": {t: {} for t in reports.MEDIA_TYPES.values()}}},
)
def read_report(
    job: ReadableJob,
    settings: SettingsDep,
    sessions: SessionsDep,
    format: Literal["sarif", "junit", "csv", "html"] = "sarif",  # noqa: A002 - the API's word
    min_severity: Annotated[
        Severity | None, Query(description="Only violations of this severity or worse.")
    ] = None,
    path_prefix: Annotated[
        str,
        Query(
            max_length=1000,
            pattern=r"^[^\\:*?\"<>|]*$",
            description="SARIF: put before every file's path, e.g. the submitted folder's path "
            "from the repository root, so code scanning can place results.",
        ),
    ] = "",
    max_results: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_RESULTS,
            description="SARIF: at most this many results, the most severe first; a "
            "notification says how many were left out (GitHub refuses runs over 25,000).",
        ),
    ] = MAX_RESULTS,
    new_only: Annotated[
        bool, Query(description="Only findings new against the job's baseline.")
    ] = False,
) -> Response:
    """The job's violations as SARIF 2.1.0, JUnit XML, CSV or a standalone HTML page."""
    job_id = job.job_id
    with sessions() as session:
        tasks = queries.tasks.all_tasks(session, job_id)
        violations = queries.violations.all_violations(
            session,
            job_id,
            queries.violations.ViolationFilter(new_only=new_only),
        )
    if min_severity is not None:
        floor = SEVERITY_RANK[min_severity]
        violations = [v for v in violations if SEVERITY_RANK[v.severity] >= floor]
    data = reports.JobReportData(job, tasks, violations, settings.NFS_SHARE_ROOT_PATH)
    if format == "sarif":
        body = to_sarif(data, path_prefix=path_prefix, max_results=max_results)
    else:
        body = reports.render(format, data)
    return Response(
        body,
        media_type=reports.MEDIA_TYPES[format],
        headers={
            "Content-Disposition": f'inline; filename="{job_id}.{reports.EXTENSIONS[format]}"'
        },
    )
