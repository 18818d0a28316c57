"""Typed dependencies of the routes: settings, the sessionmaker (not a session: routes commit
before triggering Prefect, so they own their transactions), and a job the caller may read."""

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from sqlalchemy.orm import Session, sessionmaker

from api.auth import CallerDep, check_may_read, may_use_project
from core.settings import Settings, get_settings
from db import queries
from db.models import LintingJob


def _sessions(request: Request) -> sessionmaker[Session]:
    maker: sessionmaker[Session] = request.app.state.sessions
    return maker


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]


def readable_job(job_id: str, sessions: SessionsDep, who: CallerDep) -> LintingJob:
    """The job named in the path: 404 if there is none, 410 if retention removed it, 403 if it
    belongs to another API key."""
    with sessions() as session:
        job = queries.jobs.get_job(session, job_id)
        tombstone = None if job else queries.retention.get_tombstone(session, job_id)
        shared = (
            job is not None
            and job.project_id is not None
            and not who.may_read(job)
            and may_use_project(who, queries.projects.project_keys(session, job.project_id))
        )
    if tombstone is not None and who.may_read(tombstone):
        expired = tombstone.expired_at.replace(microsecond=0).isoformat() + "Z"
        raise HTTPException(410, f"Job expired at {expired}: its results were removed")
    if job is None:
        raise HTTPException(404, "Job not found")
    if not shared:  # a project's jobs are visible to the project's keys (issue 15)
        check_may_read(who, job)
    return job


ReadableJob = Annotated[LintingJob, Depends(readable_job)]


# Page numbers past any real listing answer 422, not a database error on a huge OFFSET.
MAX_PAGE = 1_000_000
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page number.")]
