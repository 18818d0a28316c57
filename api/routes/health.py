"""`GET /health`: 200 when the DB, the shared directory and the Prefect API answer; else 503."""

import os
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

router = APIRouter(tags=["health"])


def _check_db(sessions: SessionsDep) -> str | None:
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"database: {type(exc).__name__}"
    return None


def _check_share(settings: SettingsDep) -> str | None:
    root = settings.NFS_SHARE_ROOT_PATH
    if not root.is_dir() or not os.access(root, os.W_OK):
        # No path in the answer: /health is open, and the share's mount point is the host's.
        return "shared directory: not a writable directory (NFS_SHARE_ROOT_PATH)"
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


class Healthy(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/health", response_model=Healthy, responses=error_responses(503))
def health(settings: SettingsDep, sessions: SessionsDep) -> JSONResponse:
    """Checks the DB, the shared directory and the Prefect API; 503 names what failed (in
    `detail`, parts separated by '; ')."""
    problems = [p for p in (_check_db(sessions), _check_share(settings), _check_prefect()) if p]
    if problems:
        return problem(503, "; ".join(problems))
    return JSONResponse({"status": "ok"})
