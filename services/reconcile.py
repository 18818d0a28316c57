"""Periodic pass that keeps the job rows consistent with Prefect when a hook or write was lost.

- An ACCEPTED job without a flow run (Prefect was down at submit time) is triggered again,
  with the same idempotency key, so at most one run per job exists.
- A job whose flow run is final in Prefect but whose row is not gets its final status
  (COMPLETED run: computed from the task rows; failed, crashed or cancelled run: FAILED with a
  reason that says it can be retried).
- A PROCESSING job whose flow run is RUNNING but whose heartbeat stopped (its host died; Prefect
  3.9 does not notice that by itself) has its run set to Crashed and the job FAILED, retryable.
Every API instance runs it; each step is idempotent, so instances may overlap.
"""

import asyncio
import logging
from datetime import datetime, timedelta
from uuid import UUID

import httpx
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import State, StateType
from prefect.exceptions import PrefectException
from prefect.states import Crashed
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from db import queries
from db.models import JobStatus, LintingJob, utcnow
from flows.start import start_job
from linting.status import finish_job

logger = logging.getLogger(__name__)

_ENDED_BADLY = {StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


def _states(flow_run_ids: list[str]) -> dict[str, State]:
    if not flow_run_ids:
        return {}
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(i) for i in flow_run_ids])),
            limit=len(flow_run_ids),
        )
    return {str(run.id): run.state for run in runs if run.state is not None}


def _crash_run(flow_run_id: str, message: str) -> None:
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(flow_run_id), Crashed(message=message), force=True)


def reconcile_once(settings: Settings, sessions: sessionmaker[Session]) -> int:
    """One pass over unfinished jobs that have been quiet for a while; returns changes made."""
    now = utcnow()
    quiet = min(settings.TRIGGER_RETRY_AFTER_SECONDS, settings.STALE_AFTER_SECONDS)
    with sessions() as session:
        jobs: list[LintingJob] = queries.jobs.unfinished_jobs(
            session, now - timedelta(seconds=quiet)
        )
    changed = 0
    try:
        for job in jobs:
            if job.flow_run_id is None and job.updated_at < now - timedelta(
                seconds=settings.TRIGGER_RETRY_AFTER_SECONDS
            ):
                start_job(settings, sessions, job)
                changed += 1
        states = _states([j.flow_run_id for j in jobs if j.flow_run_id])
        for job in jobs:
            state = states.get(job.flow_run_id or "")
            if state is not None and _settle(settings, sessions, job, state, now):
                changed += 1
    except (PrefectException, httpx.HTTPError) as exc:
        logger.warning("reconcile: Prefect unavailable: %s", exc)
    return changed


def _settle(
    settings: Settings,
    sessions: sessionmaker[Session],
    job: LintingJob,
    state: State,
    now: datetime,
) -> bool:
    """Apply what Prefect knows to one job; returns whether the row changed."""
    run_id = job.flow_run_id
    extra = {"job_id": job.job_id, "flow_run_id": run_id}
    if state.type == StateType.COMPLETED:
        with sessions.begin() as session:
            finish_job(session, job.job_id)
        logger.info("reconciled: run completed, job finished from its rows", extra=extra)
        return True
    if state.type in _ENDED_BADLY:
        message = f"flow run {run_id} ended {state.type.value}; retry the job"
    elif (
        state.type == StateType.RUNNING
        and job.status == JobStatus.PROCESSING
        and job.heartbeat_at is not None
        and job.heartbeat_at < now - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    ):
        message = (
            f"flow run {run_id} stopped reporting (no heartbeat for over "
            f"{settings.STALE_AFTER_SECONDS:g} s; its host may have died); retry the job"
        )
        _crash_run(str(run_id), message)
    else:
        return False
    with sessions.begin() as session:
        changed = queries.jobs.fail_job(session, job.job_id, message, only_if_unfinished=True)
    if changed:
        logger.warning("reconciled: %s", message, extra=extra)
    return changed


async def reconcile_forever(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """The API's background loop; one failed pass never stops it."""
    while True:
        await asyncio.sleep(settings.RECONCILE_INTERVAL_SECONDS)
        try:
            await asyncio.to_thread(reconcile_once, settings, sessions)
        except Exception:  # noqa: BLE001 - a boundary: log and try again next interval
            logger.exception("reconcile pass failed")
