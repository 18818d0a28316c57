"""Starting a job: the one place a job row is created and its `lint-job` flow run triggered.

Used by every way a job starts: `POST /jobs` and `/jobs/upload` (`create_job`), a retry, the
reconciler re-triggering a job Prefect never received, and the re-lint flow (`start_job`); the
reconciler also starts automatic retries (`start_next_attempt`, see flows/attempts.py).
The job id is the run's idempotency key, so a second trigger returns the run that exists.
"""

import base64
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from prefect.exceptions import PrefectException
from prefect.settings import get_current_settings
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from db import queries
from db.models import LintingJob, SubmissionType
from flows.prefect_tls import prefect_api_verify
from linting.options import JobOptions, write_job_files

logger = logging.getLogger(__name__)

# The tag of a run the system started again by itself after an infrastructure failure.
AUTO_RETRY = "auto-retry"

# What a trigger raises when Prefect is away; the job then waits ACCEPTED for the reconciler.
TRIGGER_ERRORS = (PrefectException, httpx.HTTPError, RuntimeError)
TRIGGER_TIMEOUT_SECONDS = 10.0


def run_tags(dialect: str, submission: str, *more: str) -> list[str]:
    """Tags operators filter flow runs by in the Prefect UI."""
    return [f"dialect:{dialect}", f"submission:{submission}", *more]


def prefect_http(timeout: float) -> httpx.Client:
    """The Prefect API as Prefect's own client reaches it (its URL, credentials and TLS settings),
    but without that client's retries: it sleeps 2 s after a 503 even when told to retry
    nothing, and 2, 4, 8, 16 s when told to retry."""
    api = get_current_settings().api
    if not api.url:
        raise RuntimeError("PREFECT_API_URL is not set")
    headers = {}
    if api.auth_string:
        token = base64.b64encode(api.auth_string.get_secret_value().encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif api.key:
        headers["Authorization"] = f"Bearer {api.key.get_secret_value()}"
    return httpx.Client(
        base_url=api.url.rstrip("/") + "/",
        headers=headers,
        timeout=timeout,
        verify=prefect_api_verify(),  # Prefect's TLS settings; one CA load per process
    )


def trigger_lint_job(
    deployment: str, job_id: str, attempt: str = "", tags: list[str] | None = None
) -> str:
    """Create the job's flow run and return its id.

    Args:
        deployment: "flow-name/deployment-name", e.g. "lint-job/lint-job".
        job_id: the job to lint.
        attempt: empty for the job's first run; a fresh value for each retry.
        tags: the run's tags (`run_tags`); retries add "retry".

    Raises:
        httpx.HTTPStatusError: the deployment is not registered (404), or Prefect stayed busy
            (503) for TRIGGER_TIMEOUT_SECONDS.
        httpx.TransportError: the Prefect API is down or did not answer in time.
    """
    # Quick retries of a busy answer within TRIGGER_TIMEOUT_SECONDS: a Prefect server on SQLite
    # answers 503 whenever its database is locked for a moment, even on an idle host, and a
    # submission must not wait for the reconciler's next round for that. A job whose trigger
    # still fails stays ACCEPTED and the reconciler triggers it again; the same key each time,
    # so a run created by an attempt that timed out is found, not duplicated.
    flow_name, deployment_name = deployment.split("/", 1)
    body = {
        "parameters": {"job_id": job_id},
        "idempotency_key": f"{job_id}:{attempt}" if attempt else job_id,
        "tags": [*(tags or []), *(["retry"] if attempt else [])],
    }
    deadline = time.monotonic() + TRIGGER_TIMEOUT_SECONDS
    pause = 0.05
    while True:
        try:
            with prefect_http(timeout=max(deadline - time.monotonic(), 0.1)) as http:
                found = http.get(f"deployments/name/{flow_name}/{deployment_name}")
                found.raise_for_status()
                created = http.post(f"deployments/{found.json()['id']}/create_flow_run", json=body)
                created.raise_for_status()
            run_id = str(created.json()["id"])
            break
        except httpx.HTTPStatusError as exc:
            # Only a server that answers it is busy is asked again; one that is down or does
            # not answer in time is left to the reconciler, without holding the submission.
            busy = exc.response.status_code in (429, 502, 503)
            if not busy or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
    logger.info("job triggered", extra={"job_id": job_id, "flow_run_id": run_id})
    return run_id


def start_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    job: LintingJob,
    *,
    retry: bool = False,
    more_tags: tuple[str, ...] = (),
) -> str:
    """Trigger the job's flow run and record it on the row; returns the flow run's id.

    With `retry`, a new run (a fresh idempotency key, tagged "retry") and the job ACCEPTED
    again; the run re-lints only the files that are not SUCCESS.

    Raises:
        The errors of `trigger_lint_job` (see TRIGGER_ERRORS); the row is then unchanged.
    """
    flow_run_id = trigger_lint_job(
        settings.LINT_DEPLOYMENT,
        job.job_id,
        attempt=str(uuid.uuid4()) if retry else "",
        tags=run_tags(job.dialect, job.submission_type.value, *more_tags),
    )
    with sessions.begin() as session:
        if retry:
            queries.jobs.requeue_job(session, job.job_id, flow_run_id)
        else:
            queries.jobs.set_flow_run_id(session, job.job_id, flow_run_id, attempt=job.attempt)
    return flow_run_id


def start_next_attempt(settings: Settings, sessions: sessionmaker[Session], job: LintingJob) -> str:
    """Trigger the run of an automatic retry queued by `flows.attempts.end_attempt`.

    Its idempotency key names the attempt ("{job_id}:auto-{n}"), so API instances triggering
    the same attempt at once get the same run; it is tagged `auto-retry` and `attempt:{n}`.

    Raises:
        The errors of `trigger_lint_job` (see TRIGGER_ERRORS); the job then stays queued.
    """
    flow_run_id = trigger_lint_job(
        settings.LINT_DEPLOYMENT,
        job.job_id,
        attempt=f"auto-{job.attempt}",
        tags=run_tags(job.dialect, job.submission_type.value, AUTO_RETRY, f"attempt:{job.attempt}"),
    )
    with sessions.begin() as session:
        queries.jobs.set_flow_run_id(session, job.job_id, flow_run_id, attempt=job.attempt)
    return flow_run_id


@dataclass(frozen=True)
class ProjectLink:
    """What a job of a project carries: the project, the lowest config layer its profile
    makes, where each config value comes from, its baseline job and ref."""

    project_id: str | None
    base_layer: str | None
    config_sources: dict[str, Any]
    baseline_job_id: str | None = None
    ref: str | None = None
    dialect: str | None = None  # the profile's, when the job names none


@dataclass(frozen=True)
class NewJob:
    """Everything a job is created with; its source is already on the share."""

    job_id: str
    submission: SubmissionType
    source_path: str
    options: JobOptions
    config_text: str | None = None
    submitter: str | None = None
    callback_url: str | None = None
    api_key_id: str | None = None
    relint_of: str | None = None
    # Issue 15: a project's job (its profile is `base_layer`), its baseline and ref.
    project: ProjectLink | None = None


def create_job(
    settings: Settings,
    sessions: sessionmaker[Session],
    new: NewJob,
    more_tags: tuple[str, ...] = (),
) -> str | None:
    """Lay out the job's config layers, insert its row, start its flow run.

    The row is committed before the trigger, because the flow run reads it. A failed trigger
    leaves the job ACCEPTED: the reconciler triggers it again with the same idempotency key,
    so the client's 202 always holds.

    Returns:
        The flow run's id, or None when Prefect did not answer (the reconciler will start it).
    """
    link = new.project
    write_job_files(
        settings.NFS_SHARE_ROOT_PATH,
        new.job_id,
        settings.SQLFLUFF_DIALECT,
        new.config_text,
        link.base_layer if link else None,
    )
    with sessions.begin() as session:
        job = queries.jobs.insert_job(
            session,
            new.job_id,
            new.submission,
            new.source_path,
            new.options.dialect or (link and link.dialect) or settings.SQLFLUFF_DIALECT,
            options=new.options.to_json(),
            submitter=new.submitter,
            callback_url=new.callback_url,
            relint_of=new.relint_of,
            api_key_id=new.api_key_id,
        )
        if link is not None:
            queries.projects.set_job_fields(
                session,
                new.job_id,
                project_id=link.project_id,
                baseline_job_id=link.baseline_job_id,
                ref=link.ref,
                config_sources=link.config_sources,
            )
    logger.info("job accepted", extra={"job_id": new.job_id})
    try:
        return start_job(settings, sessions, job, more_tags=more_tags)
    except TRIGGER_ERRORS as exc:
        logger.warning("trigger failed, will retry: %s", exc, extra={"job_id": new.job_id})
        return None
