"""`POST /lint`: violations for a small piece of SQL in the response itself."""

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from api.auth import CallerDep
from api.deps import SettingsDep
from api.errors import error_responses
from api.schemas import LintNow, LintResult
from api.submit import check_options
from services.lint_pool import LintPool, LintTimeout, PoolFull

# Every error is a Problem (api/errors.py); each status these routes can answer is listed.
router = APIRouter(tags=["lint"], responses=error_responses(400, 401, 413, 422, 500, 503, 504))


@router.post(
    "/lint",
    response_model=LintResult,
    # SQLFluff's records as it writes them: a key it leaves out (TMP and LXR records have no
    # end position) is left out here too, not answered as null.
    response_model_exclude_unset=True,
    responses={  # the router's Problem answers, each with its own reason
        s: {**error_responses(s)[s], "description": d}
        for s, d in (
            (413, "The SQL is over INLINE_MAX_BYTES."),
            (503, "Every lint process is busy; retry shortly."),
            (504, "Linting took over INLINE_TIMEOUT_SECONDS."),
        )
    },
)
async def lint_now(
    body: LintNow, request: Request, settings: SettingsDep, who: CallerDep
) -> dict[str, Any]:
    """Lint up to INLINE_MAX_BYTES of SQL synchronously, with the same options as a job
    (no fix). Violations are SQLFluff's, each with its severity."""
    size = len(body.sql.encode("utf-8"))
    if size > settings.INLINE_MAX_BYTES:
        raise HTTPException(
            413, f"SQL is {size} bytes, over {settings.INLINE_MAX_BYTES}; submit it as a job"
        )
    if not body.sql.strip():
        raise HTTPException(400, "'sql' is empty.")
    checked = check_options(body)
    pool: LintPool = request.app.state.lint_pool
    try:
        return await pool.lint(body.sql, checked, body.config)
    except PoolFull as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
    except LintTimeout as exc:
        raise HTTPException(504, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(422, f"SQLFluff could not lint it: {exc}") from None
