"""Periodic pass that keeps MySQL rows consistent with Prefect when a hook or write was lost.

- An ACCEPTED job without a flow run (Prefect was down at submit time) is triggered again,
  with the same idempotency key, so at most one run per job exists.
- A job whose flow run is terminal in Prefect but whose row is not final gets its final status
  (COMPLETED run: computed from the task rows; failed, crashed or cancelled run: FAILED with a
  reason that says it can be retried).
"""

import asyncio
import logging
from datetime import timedelta
from uuid import UUID

import httpx
from prefect import get_client
from prefect.client.schemas.objects import StateType
from prefect.exceptions import PrefectException
from sqlalchemy.orm import Session, sessionmaker

from api.trigger import trigger_lint_job
from db import repo
from db.models import utcnow
from db.settings import Settings

logger = logging.getLogger(__name__)

_ENDED_BADLY = {StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


def reconcile_once(settings: Settings, sessions: sessionmaker[Session]) -> int:
    """One pass over unfinished jobs untouched for a while; returns how many it changed."""
    cutoff = utcnow() - timedelta(seconds=settings.TRIGGER_RETRY_AFTER_SECONDS)
    with sessions() as session:
        jobs = [(j.job_id, j.status, j.flow_run_id) for j in repo.unfinished_jobs(session, cutoff)]
    changed = 0
    for job_id, status, flow_run_id in jobs:
        try:
            if flow_run_id is None:
                new_id = trigger_lint_job(settings.LINT_DEPLOYMENT, job_id)
                with sessions.begin() as session:
                    repo.set_flow_run_id(session, job_id, new_id)
                changed += 1
                continue
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(UUID(flow_run_id)).state
        except (PrefectException, httpx.HTTPError) as exc:
            logger.warning("reconcile: Prefect unavailable: %s", exc, extra={"job_id": job_id})
            return changed
        if state is None or not state.is_final():
            continue
        with sessions.begin() as session:
            if state.type == StateType.COMPLETED:
                repo.finish_job(session, job_id)
            elif state.type in _ENDED_BADLY:
                message = (
                    f"flow run {flow_run_id} ended {state.type.value} while the job was "
                    f"{status.value}; retry the job"
                )
                repo.fail_job(session, job_id, message, only_if_unfinished=True)
        logger.info("reconciled job from flow run state %s", state.type.value,
                    extra={"job_id": job_id, "flow_run_id": flow_run_id})
        changed += 1
    return changed


async def reconcile_forever(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """The API's background loop; one failed pass never stops it."""
    while True:
        await asyncio.sleep(settings.RECONCILE_INTERVAL_SECONDS)
        try:
            await asyncio.to_thread(reconcile_once, settings, sessions)
        except Exception:  # noqa: BLE001 - a boundary: log and try again next interval
            logger.exception("reconcile pass failed")


__all__ = ["reconcile_forever", "reconcile_once"]
