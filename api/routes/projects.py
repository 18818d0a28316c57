"""Projects (issue 15): create, read, change and list them, and a project's trend."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from api.auth import Caller, CallerDep, may_use_project
from api.deps import PageNumber, SessionsDep
from api.errors import error_responses
from api.project_schemas import (
    FingerprintChange,
    ProjectIn,
    ProjectList,
    ProjectOut,
    ProjectPatch,
    TrendOut,
    TrendPoint,
)
from db import queries
from db.models import Project
from services import projects

router = APIRouter(tags=["projects"], responses=error_responses(400, 401, 403, 404, 422, 500, 503))


def readable_project(project_id: str, sessions: SessionsDep, who: CallerDep) -> Project:
    """The project named in the path: 404 if there is none, 403 if it is not the caller's."""
    with sessions() as session:
        project = queries.projects.get_project(session, project_id)
        keys = queries.projects.project_keys(session, project_id) if project else []
    if project is None:
        raise HTTPException(404, "Project not found")
    if not may_use_project(who, keys):
        raise HTTPException(403, "this project belongs to other API keys")
    return project


ReadableProject = Annotated[Project, Depends(readable_project)]


def _owners(who: Caller, asked: list[str] | None) -> list[str]:
    """The keys a project belongs to: as asked (a key must stay among them unless it is an
    admin), or the caller's own."""
    if asked is None:
        return [who.key_id] if who.key_id else []
    if who.key_id and not who.is_admin and who.key_id not in asked:
        raise HTTPException(400, "'key_ids' must include your own key")
    return asked


def _out(sessions: SessionsDep, project_id: str) -> ProjectOut:
    with sessions() as session:
        row = queries.projects.get_project(session, project_id)
        assert row is not None
        return ProjectOut.from_row(row, queries.projects.project_keys(session, project_id))


@router.post("/projects", status_code=201, response_model=ProjectOut)
def create_project(body: ProjectIn, sessions: SessionsDep, who: CallerDep) -> ProjectOut:
    """A project: its lint profile (checked like a job's), severity overrides and gate."""
    profile = projects.checked_profile(body.model_dump())
    projects.check_severity_keys(body.severity_overrides)
    project_id = queries.projects.new_project_id()
    with sessions.begin() as session:
        queries.projects.insert_project(
            session,
            Project(
                project_id=project_id,
                name=body.name,
                profile=profile,
                config_text=body.config,
                severity_overrides={k.upper(): v.value for k, v in body.severity_overrides.items()},
                gate=body.gate.model_dump(mode="json") if body.gate else None,
            ),
            _owners(who, body.key_ids),
        )
    return _out(sessions, project_id)


@router.get("/projects", response_model=ProjectList)
def list_projects(
    sessions: SessionsDep,
    who: CallerDep,
    page: PageNumber = 1,
    size: int = Query(20, ge=1, le=500),
) -> ProjectList:
    """Projects, oldest first (with API keys: the caller's, or all for an admin key)."""
    with sessions() as session:
        total, rows = queries.projects.list_projects(session, who.only_own_jobs, page, size)
        items = [
            ProjectOut.from_row(r, queries.projects.project_keys(session, r.project_id))
            for r in rows
        ]
    return ProjectList(total=total, page=page, size=size, items=items)


@router.get("/projects/{project_id}", response_model=ProjectOut)
def read_project(project: ReadableProject, sessions: SessionsDep) -> ProjectOut:
    return _out(sessions, project.project_id)


@router.patch("/projects/{project_id}", response_model=ProjectOut)
def update_project(
    project: ReadableProject, body: ProjectPatch, sessions: SessionsDep, who: CallerDep
) -> ProjectOut:
    """Change a project; a changed profile is checked whole, as on creation. Jobs already
    submitted keep the profile they were created with."""
    given = body.model_dump(exclude_unset=True)
    values: dict[str, object] = {}
    if "name" in given and body.name is not None:
        values["name"] = body.name
    if given.keys() & {"dialect", "templater", "rules", "exclude_rules", "config"}:
        merged = {**(project.profile or {}), "config": project.config_text, **given}
        values["profile"] = projects.checked_profile(merged)
        values["config_text"] = merged.get("config")
    if "severity_overrides" in given:
        overrides = body.severity_overrides or {}
        projects.check_severity_keys(overrides)
        values["severity_overrides"] = {k.upper(): v.value for k, v in overrides.items()}
    if "gate" in given:
        values["gate"] = body.gate.model_dump(mode="json") if body.gate else None
    with sessions.begin() as session:
        if values:
            queries.projects.update_project(session, project.project_id, values)
        if "key_ids" in given:
            owners = _owners(who, body.key_ids or [])
            queries.projects.set_project_keys(session, project.project_id, owners)
    return _out(sessions, project.project_id)


@router.get("/projects/{project_id}/trend", response_model=TrendOut)
def read_trend(
    project: ReadableProject,
    sessions: SessionsDep,
    ref: Annotated[str | None, Query(description="Only jobs run on this ref.")] = None,
    limit: int = Query(50, ge=1, le=500, description="The latest this many jobs."),
    from_job: Annotated[str | None, Query(alias="from")] = None,
    to_job: Annotated[str | None, Query(alias="to")] = None,
    changes: int = Query(500, ge=0, le=10_000, description="At most this many of each list."),
) -> TrendOut:
    """Findings per severity of each of the project's jobs, oldest first, and the fingerprints
    fixed and introduced between two jobs (`from`, `to`; default the last two)."""
    with sessions() as session:
        jobs = queries.projects.project_jobs(session, project.project_id, ref, limit)
        counts = queries.projects.severity_counts(session, [j.job_id for j in jobs])
        ids = [j.job_id for j in jobs]
        old = from_job or (ids[-2] if len(ids) > 1 else None)
        new = to_job or (ids[-1] if ids else None)
        for named in (from_job, to_job):
            job = queries.jobs.get_job(session, named) if named else None
            if named and (job is None or job.project_id != project.project_id):
                raise HTTPException(404, f"job {named} is not a job of this project")
        fixed, introduced = (
            queries.projects.fingerprint_diff(session, old, new, changes)
            if old and new
            else ([], [])
        )
        change = [
            [
                FingerprintChange(
                    fingerprint=v.fingerprint or "",
                    file_name=v.file_name,
                    rule_code=v.rule_code,
                    severity=v.severity,
                    start_line=v.start_line,
                    description=v.description,
                )
                for v in rows
            ]
            for rows in (fixed, introduced)
        ]
    points = [
        TrendPoint(
            job_id=j.job_id,
            created_at=j.created_at,
            job_status=j.status.value,
            ref=j.ref,
            by_severity=counts[j.job_id],
            total=sum(counts[j.job_id].values()),
            gate=(j.gate_verdict or {}).get("status"),  # type: ignore[arg-type]
        )
        for j in jobs
    ]
    return TrendOut(
        project_id=project.project_id,
        jobs=points,
        compared={"from": old, "to": new},
        fixed=change[0],
        introduced=change[1],
    )
