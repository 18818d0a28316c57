"""The web UI at /ui: server-rendered pages (Jinja2, autoescaped), read-only, behind the same
API keys as the API. A browser sends its key once to /ui/login; it is kept in a cookie sent
only to /ui pages (HttpOnly, SameSite=Strict), and checked on every page like a header key."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import Caller, identify, may_use_project, presented_key
from api.deps import SessionsDep, SettingsDep, readable_job

# The pages live beside the HTML report's template (`ui_*.j2`, package data already shipped)
# and share its environment: autoescape everywhere, as every value comes from submitters.
from api.reports.html_report import snippet, templates
from core.settings import Settings, get_settings
from db import queries
from db.models import Severity
from linting.fingerprints import decode_source

router = APIRouter(prefix="/ui", include_in_schema=False)
COOKIE = "sfs_ui_key"
RECENT = 50


def _page(template: str, status: int = 200, **values: object) -> HTMLResponse:
    return HTMLResponse(templates().get_template(template).render(**values), status)


def ui_caller(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> Caller | None:
    """Who is browsing (a header key, or the cookie /ui/login set); None: send them to log in."""
    try:
        return identify(request, settings, presented_key(request) or request.cookies.get(COOKIE))
    except HTTPException as exc:
        if exc.status_code == 401:
            return None
        raise


UiCaller = Annotated[Caller | None, Depends(ui_caller)]


def _login() -> RedirectResponse:
    return RedirectResponse("/ui/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(error: str = "") -> HTMLResponse:
    return _page("ui_login.html.j2", error=error)


@router.post("/login")
def login(request: Request, settings: SettingsDep, key: Annotated[str, Form()]) -> Response:
    try:
        identify(request, settings, key.strip())
    except HTTPException as exc:
        return _page("ui_login.html.j2", status=401, error=str(exc.detail))
    response = RedirectResponse("/ui", status_code=303)
    response.set_cookie(
        COOKIE,
        key.strip(),
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _verdict(job: object) -> str:
    return str((getattr(job, "gate_verdict", None) or {}).get("status") or "")


@router.get("", response_class=HTMLResponse)
def home(who: UiCaller, sessions: SessionsDep) -> Response:
    """Projects and the latest jobs, with status and gate verdict."""
    if who is None:
        return _login()
    with sessions() as session:
        _, projects = queries.projects.list_projects(session, who.only_own_jobs, 1, 200)
        jobs = queries.pages.visible_jobs(session, who.only_own_jobs, None, RECENT)
    return _page("ui_home.html.j2", projects=projects, jobs=jobs, verdict=_verdict)


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(project_id: str, who: UiCaller, sessions: SessionsDep) -> Response:
    if who is None:
        return _login()
    with sessions() as session:
        project = queries.projects.get_project(session, project_id)
        if project is None:
            raise HTTPException(404, "Project not found")
        if not may_use_project(who, queries.projects.project_keys(session, project_id)):
            raise HTTPException(403, "this project belongs to other API keys")
        jobs = queries.pages.visible_jobs(session, None, project_id, RECENT)
        counts = queries.projects.severity_counts(session, [j.job_id for j in jobs])
    return _page(
        "ui_project.html.j2",
        project=project,
        jobs=jobs,
        counts=counts,
        severities=[s.value for s in reversed(Severity)],
        verdict=_verdict,
    )


def _flow_run_link(flow_run_id: str | None) -> str | None:
    if not flow_run_id:
        return None
    from prefect.settings import get_current_settings

    current = get_current_settings()
    ui = current.ui_url or (str(current.api.url or "").removesuffix("/api") or None)
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui else None


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    job_id: str,
    who: UiCaller,
    sessions: SessionsDep,
    settings: SettingsDep,
    show: Literal["all", "new", "existing"] = "all",
    after: Annotated[int, Query(ge=0, description="Findings after this one (its id).")] = 0,
    size: int = Query(100, ge=1, le=500),
) -> Response:
    """A job's summary, gate verdict, links, and one page of its findings with their SQL."""
    if who is None:
        return _login()
    job = readable_job(job_id, sessions, who)
    where = queries.violations.ViolationFilter(
        new_only=show == "new", existing_only=show == "existing"
    )
    # Counts read along indexes only (no group by rule, no sort by file): a 20,000-file job's
    # page answers in well under 200 ms; the API's /summary has the rest.
    with sessions() as session:
        tasks = queries.tasks.task_counts(session, job.job_id)
        # An ended job's counts were settled once; a running job's are counted now.
        counts = job.finding_counts or {
            "all": queries.violations.count_by_severity(session, job.job_id),
            "new": queries.violations.count_by_severity(session, job.job_id, new_only=True),
        }
        by_severity: dict[str, int] = counts["all"]  # type: ignore[assignment]
        new_by_severity: dict[str, int] | None = (
            counts["new"] if job.baseline_job_id else None  # type: ignore[assignment]
        )
        # One more than shown: whether there is a next page.
        rows = queries.pages.findings_page(session, job.job_id, where, after, size + 1)
        more, rows = len(rows) > size, rows[:size]
        paths = queries.pages.source_paths(session, [r.task_id for r in rows])
    all_count = sum(by_severity.values())
    new_count = sum((new_by_severity or by_severity).values())
    total = {"all": all_count, "new": new_count, "existing": all_count - new_count}[show]
    sources: dict[str, list[str]] = {}
    findings = []
    for r in rows:
        if r.task_id not in sources:
            try:
                data = (settings.NFS_SHARE_ROOT_PATH / paths[r.task_id]).read_bytes()
                sources[r.task_id] = decode_source(data)
            except (OSError, KeyError):
                sources[r.task_id] = []  # cleaned up since: the finding is listed without SQL
        findings.append(
            {
                "row": r,
                "status": "new" if r.is_new else "existing",
                "sql": snippet(sources[r.task_id], r.start_line, r.end_line),
            }
        )
    return _page(
        "ui_job.html.j2",
        job=job,
        tasks={k.value: v for k, v in tasks.items()},
        by_severity=by_severity,
        new_by_severity=new_by_severity,
        all_count=all_count,
        new_count=new_count,
        findings=findings,
        total=total,
        after=after,
        last=rows[-1].id if more else None,
        size=size,
        show=show,
        flow_run=_flow_run_link(job.flow_run_id),
        is_fix=bool((job.options or {}).get("fix")),
        verdict=_verdict,
    )
