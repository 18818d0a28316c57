"""Every error answers in one shape, Problem Details (RFC 9457, `application/problem+json`):
`type`, `title`, `status`, `detail` (the human sentence) and, for a request that does not
validate, `errors` (where and what). Domain errors give 400/404, `HTTPException`s their status,
validation 422, a lost database 503, anything else 500."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException

from linting.errors import BadInput, SourceMissing

logger = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One reason a request did not validate."""

    loc: list[str | int] = Field(description="Where: ['body', 'rules', 0], ['query', 'size'].")
    msg: str = Field(description="What is wrong, in words.")
    type: str = Field(description="Pydantic's error type, e.g. 'missing', 'list_type'.")


class Problem(BaseModel):
    """An error answer (RFC 9457 Problem Details)."""

    type: str = Field(default="about:blank", description="A URI naming the kind of problem.")
    title: str = Field(description="The status's phrase, e.g. 'Not Found'.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong, as a sentence for people.")
    errors: list[FieldError] | None = Field(
        default=None, description="For 422: each field that did not validate."
    )


def problem(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status it can answer with, as a Problem."""
    return {
        s: {
            "model": Problem,
            "description": HTTPStatus(s).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }


async def _bad_input(_: Request, exc: Exception) -> JSONResponse:
    return problem(400, str(exc))


async def _missing(_: Request, exc: Exception) -> JSONResponse:
    return problem(404, str(exc))


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem(exc.status_code, detail, headers=exc.headers)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # No `input` or `ctx`: they can echo a submitted secret or hold objects JSON cannot carry.
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    sentence = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
        for e in errors
    )
    return problem(422, sentence or "the request is not valid", errors)


async def _not_unicode(_: Request, exc: Exception) -> JSONResponse:
    # A text the models did not check (api.schemas.TextIn checks the bodies' own fields).
    return problem(400, "the request holds text that is not valid Unicode (a lone surrogate)")


async def _database(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and not (
        isinstance(exc, OperationalError) or exc.connection_invalidated
    ):
        return await _internal(request, exc)
    logger.error("database unavailable: %s", type(exc).__name__)
    return problem(503, "database unavailable")


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal error")


def register_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BadInput, _bad_input)
    app.add_exception_handler(SourceMissing, _missing)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(UnicodeEncodeError, _not_unicode)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(Exception, _internal)
