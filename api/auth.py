"""Optional API keys (API_KEYS_REQUIRED; off on the embedded run).

A key is `sfs_<key_id>_<secret>`; only its SHA-256 is stored, with its public `key_id`. It is
sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`. With keys required, every route but
the probes (/health, /livez, /readyz), /metrics and the docs needs one (401); a job belongs to
the key that submitted it, and only that key or an admin key may read or act on it (403). A key
sent while keys are optional is still checked and recorded on the jobs it submits.
"""

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings, get_settings
from db import queries
from db.models import JobTombstone, LintingJob
from services.keys import hash_key, key_id_of


@dataclass(frozen=True)
class Caller:
    """Who is calling: a key's id and whether it is an admin; key_id None without a key."""

    key_id: str | None = None
    is_admin: bool = False

    def may_read(self, job: LintingJob | JobTombstone) -> bool:
        return self.key_id is None or self.is_admin or job.api_key_id == self.key_id

    @property
    def only_own_jobs(self) -> str | None:
        """The key whose jobs a listing is limited to, or None for all."""
        return None if self.key_id is None or self.is_admin else self.key_id


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


# The two ways to send a key, declared so OpenAPI lists them as security schemes (the Authorize
# button of /docs, auth in generated clients). `caller` reads the headers itself.
bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="BearerKey", description="An API key: `Bearer sfs_<id>_<secret>`."
)
header_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="ApiKeyHeader", description="An API key."
)


def caller(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
    _header: Annotated[str | None, Security(header_scheme)] = None,
) -> Caller:
    """The route dependency: who is calling, or 401."""
    return identify(request, settings, presented_key(request))


def identify(request: Request, settings: Settings, key: str | None) -> Caller:
    """Who presents `key` (None: no key), or 401."""
    if key is None:
        if settings.API_KEYS_REQUIRED:
            raise _unauthorized(
                "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            )
        return Caller()
    key_id = key_id_of(key)
    if key_id is None:
        raise _unauthorized("malformed API key")
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        stored = queries.keys.get_api_key(session, key_id)
    if stored is None or not hmac.compare_digest(stored.key_hash, hash_key(key)):
        raise _unauthorized("unknown API key")
    if stored.revoked_at is not None:
        raise _unauthorized("this API key was revoked")
    return Caller(stored.key_id, stored.is_admin)


CallerDep = Annotated[Caller, Depends(caller)]


def check_may_read(who: Caller, job: LintingJob) -> None:
    if not who.may_read(job):
        raise HTTPException(403, "this job belongs to another API key")


def may_use_project(who: Caller, key_ids: list[str]) -> bool:
    """A project is used by its keys (issue 15), by admin keys, and by anyone without keys."""
    return who.key_id is None or who.is_admin or who.key_id in key_ids
