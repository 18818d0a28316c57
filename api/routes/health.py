"""Probes: `/livez` (the process answers), `/readyz` (it can take jobs: the DB answers at the
schema this code expects, the Prefect API answers, the shared directory is writable) and
`/health` (the same checks but the schema's, kept for existing monitors). A failing probe answers
503 as a Problem naming what failed (in `detail`, parts separated by '; ')."""

import os
import tempfile
from typing import Literal

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from prefect.settings import get_current_settings
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import SessionsDep, SettingsDep
from api.errors import error_responses, problem
from db.schema import code_heads, database_heads

router = APIRouter(tags=["health"])


def _check_db(sessions: SessionsDep, schema: bool = False) -> str | None:
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
            if not schema:
                return None
            at = database_heads(session.connection())
    except SQLAlchemyError as exc:
        return f"database: {type(exc).__name__}"
    if at != code_heads():
        # Revisions are the code's own names, not secrets: they tell the operator what to run.
        return (
            f"database: schema at {','.join(sorted(at)) or 'nothing'}, this code needs "
            f"{','.join(sorted(code_heads()))} (run the migrations)"
        )
    return None


def _check_share(settings: SettingsDep, write: bool = False) -> str | None:
    root = settings.NFS_SHARE_ROOT_PATH
    # No path in the answer: the probes are open, and the share's mount point is the host's.
    failed = "shared directory: not a writable directory (NFS_SHARE_ROOT_PATH)"
    if not root.is_dir() or not os.access(root, os.W_OK):
        return failed
    if write:
        # access() trusts the mode bits; a read-only or stale network mount only shows on write.
        try:
            with tempfile.TemporaryFile(dir=root, prefix=".readyz-"):
                pass
        except OSError:
            return failed
    return None


def _check_prefect() -> str | None:
    url = get_current_settings().api.url
    if not url:
        return "prefect: PREFECT_API_URL is not set"
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=3).raise_for_status()
    except httpx.HTTPError as exc:
        return f"prefect: {type(exc).__name__} (PREFECT_API_URL)"
    return None


def _answer(problems: list[str | None]) -> JSONResponse:
    failed = [p for p in problems if p]
    if failed:
        return problem(503, "; ".join(failed))
    return JSONResponse({"status": "ok"})


class Healthy(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/livez", response_model=Healthy)
def livez() -> JSONResponse:
    """The process answers; checks nothing else (a failing dependency is /readyz's business, and
    restarting this process would not mend it)."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", response_model=Healthy, responses=error_responses(503))
def readyz(settings: SettingsDep, sessions: SessionsDep) -> JSONResponse:
    """This instance can take jobs: the DB answers and its schema is at the code's migration
    head, the Prefect API answers, a file can be created in the shared directory. 503 names
    what failed."""
    return _answer(
        [_check_db(sessions, schema=True), _check_share(settings, write=True), _check_prefect()]
    )


@router.get("/health", response_model=Healthy, responses=error_responses(503))
def health(settings: SettingsDep, sessions: SessionsDep) -> JSONResponse:
    """Checks the DB, the shared directory and the Prefect API; 503 names what failed."""
    return _answer([_check_db(sessions), _check_share(settings), _check_prefect()])
