"""Periodic pass that keeps the job rows consistent with Prefect when a hook or write was lost,
and the one place that starts automatic retries.

- An ACCEPTED job without a flow run (Prefect was down at submit time) is triggered again,
  with the same idempotency key, so at most one run per job exists.
- An automatic retry whose backoff is over (flows/attempts.py queued it) is triggered, with an
  idempotency key naming the attempt and the tag `auto-retry`.
- A job whose flow run is final in Prefect but whose row is not: a COMPLETED run finishes it
  from its task rows; a failed or crashed run, or one cancelled by a shutting-down runner (or
  CANCELLING for over STALE_AFTER_SECONDS: the runner died), ends the attempt (retried until
  JOB_MAX_ATTEMPTS); a run a person cancelled fails the job. Whether a cancellation was the
  runner's is read from the run's whole history (flows/attempts.py: cancelled_by_runner).
- A PROCESSING job whose flow run is RUNNING but whose heartbeat stopped (its host died, or a
  power cut; Prefect 3.9 does not notice that by itself) has its run set to Crashed, and the
  attempt ends; so does a job still ACCEPTED under a RUNNING run that long (its process died
  before the flow took the job). So does an ACCEPTED job whose run stayed PENDING for
  PENDING_STALE_FACTOR x STALE_AFTER_SECONDS: a runner that claimed it died before starting
  its process.
Every API instance runs it, over every unfinished job (page by page); each step is a
conditional update on (job, attempt, run) or an idempotent trigger, so instances may overlap,
and a snapshot read at the start of a page never overwrites what changed since. Every change
is logged.
"""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
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
from db.models import JobStatus, LintingJob, TaskStatus, utcnow
from flows.attempts import cancelled_by_runner, end_attempt
from flows.start import start_job, start_next_attempt
from linting.status import finish_job

logger = logging.getLogger(__name__)

_ENDED_BADLY = {StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
_CANCELS = {StateType.CANCELLED, StateType.CANCELLING}


# Flow runs read per request: Prefect's API caps a page at PREFECT_API_DEFAULT_LIMIT (200).
_STATES_CHUNK = 200


def _states(flow_run_ids: list[str]) -> dict[str, State]:
    if not flow_run_ids:
        return {}
    found: dict[str, State] = {}
    with get_client(sync_client=True) as client:
        for start in range(0, len(flow_run_ids), _STATES_CHUNK):
            chunk = [UUID(i) for i in flow_run_ids[start : start + _STATES_CHUNK]]
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=chunk)), limit=len(chunk)
            )
            found.update({str(run.id): run.state for run in runs if run.state is not None})
    return found


# A worker takes a concurrency slot before it moves a run to PENDING, so PENDING lasts only
# while it prepares and starts the run's process; one PENDING for several STALE_AFTER_SECONDS
# was claimed by a worker that died (a power cut) and nothing will start it. Several: the worker
# reads the deployment, flow and pool first, and its Prefect client backs off 2+4+8+16 s on a
# Prefect server that answers 503 (SQLite locked under a burst): 30 s of PENDING was seen.
PENDING_STALE_FACTOR = 6


def _crash_run(flow_run_id: str, message: str) -> None:
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(flow_run_id), Crashed(message=message), force=True)


def reconcile_once(
    settings: Settings,
    sessions: sessionmaker[Session],
    page_size: int | None = None,
    watching_since: datetime | None = None,
) -> int:
    """One pass over unfinished jobs that have been quiet for a while, or whose automatic
    retry is due, page by page; returns changes made.

    `watching_since`: since when passes have seen the database without a break. A heartbeat
    missed before then is no evidence of a dead run (the database, or this API, was away), so
    runs are judged stale only once that is longer ago than STALE_AFTER_SECONDS.
    """
    page_size = page_size or settings.RECONCILE_PAGE_SIZE
    now = utcnow()
    quiet = min(settings.TRIGGER_RETRY_AFTER_SECONDS, settings.STALE_AFTER_SECONDS)
    changed = 0
    after_id = 0
    try:
        while True:
            with sessions() as session:
                jobs: list[LintingJob] = queries.jobs.unfinished_jobs(
                    session, now - timedelta(seconds=quiet), page_size, after_id=after_id, now=now
                )
            changed += _reconcile_page(settings, sessions, jobs, now, watching_since)
            if len(jobs) < page_size:
                break
            after_id = jobs[-1].id
    except (PrefectException, httpx.HTTPError) as exc:
        logger.warning("reconcile: Prefect unavailable: %s", exc)
    return changed


def _reconcile_page(
    settings: Settings,
    sessions: sessionmaker[Session],
    jobs: list[LintingJob],
    now: datetime,
    watching_since: datetime | None,
) -> int:
    changed = 0
    for job in jobs:
        if job.flow_run_id is not None:
            continue
        if job.retry_after is not None:
            if job.retry_after <= now:
                start_next_attempt(settings, sessions, job)
                changed += 1
        elif job.updated_at < now - timedelta(seconds=settings.TRIGGER_RETRY_AFTER_SECONDS):
            start_job(settings, sessions, job)
            changed += 1
    states = _states([j.flow_run_id for j in jobs if j.flow_run_id])
    for job in jobs:
        state = states.get(job.flow_run_id or "")
        if state is not None and _settle(settings, sessions, job, state, now, watching_since):
            changed += 1
    return changed


def _settle(
    settings: Settings,
    sessions: sessionmaker[Session],
    job: LintingJob,
    state: State,
    now: datetime,
    watching_since: datetime | None = None,
) -> bool:
    """Apply what Prefect knows to one job; returns whether the row changed."""
    run_id = job.flow_run_id
    extra = {"job_id": job.job_id, "flow_run_id": run_id}
    stale = now - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    since = _naive(state.timestamp)
    watched = watching_since is None or watching_since < stale
    touched = max(t for t in (job.heartbeat_at, job.updated_at) if t is not None)
    retry = True  # False: a person cancelled the run
    if state.type == StateType.COMPLETED:

        def finish(session: Session) -> bool:
            counts = queries.tasks.task_counts(session, job.job_id)
            if counts[TaskStatus.PENDING] + counts[TaskStatus.IN_PROGRESS]:
                return False  # not the job's end: the attempt ends below
            if finish_job(session, job.job_id, counts, flow_run_id=run_id) is None:
                return False  # the job is on another run now
            queries.jobs.end_attempt(session, job.job_id, None)
            return True

        with sessions.begin() as session:
            if finish(session):
                logger.info("reconciled: run completed, job finished from its rows", extra=extra)
                return True
        reason = f"flow run {run_id} completed with files not linted"
    elif state.type in _ENDED_BADLY or (
        state.type == StateType.CANCELLING and since is not None and since < stale
    ):
        reason = f"flow run {run_id} ended {state.type.value}: {state.message or 'no message'}"
        retry = state.type not in _CANCELS or cancelled_by_runner(state, run_id)
    elif (
        # Whether the job is PROCESSING or still ACCEPTED (the run's process died after
        # Prefect's Running but before the flow took the job, as seen in the soak): the
        # worklist holds only unfinished jobs, and either one would otherwise wait for ever.
        state.type == StateType.RUNNING
        and watched
        and touched < stale
        and since is not None
        and since < stale
    ):
        reason = (
            f"flow run {run_id} stopped reporting (no heartbeat for over "
            f"{settings.STALE_AFTER_SECONDS:g} s; its host may have died)"
        )
        _crash_run(str(run_id), reason)
    elif (
        state.type == StateType.PENDING
        and job.status == JobStatus.ACCEPTED
        and watched
        and since is not None
        and since < now - timedelta(seconds=PENDING_STALE_FACTOR * settings.STALE_AFTER_SECONDS)
    ):
        reason = (
            f"flow run {run_id} stayed PENDING for over "
            f"{PENDING_STALE_FACTOR * settings.STALE_AFTER_SECONDS:g} s (its runner died "
            "before starting it)"
        )
        _crash_run(str(run_id), reason)
    else:
        return False
    outcome = end_attempt(settings, sessions, job.job_id, run_id, reason[:4000], retry=retry)
    if outcome:
        logger.warning("reconciled: %s (%s)", reason, outcome, extra=extra)
    return outcome is not None


def _naive(moment: datetime | None) -> datetime | None:
    """A state's timestamp as naive UTC, like the rows' columns."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


async def reconcile_forever(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """The API's background loop; one failed pass never stops it (and restarts the watch)."""
    watching_since: datetime | None = utcnow()
    while True:
        await asyncio.sleep(settings.RECONCILE_INTERVAL_SECONDS)
        try:
            await asyncio.to_thread(
                reconcile_once, settings, sessions, None, watching_since or utcnow()
            )
        except Exception:  # noqa: BLE001 - a boundary: log and try again next interval
            logger.exception("reconcile pass failed")
            watching_since = None
        else:
            watching_since = watching_since or utcnow()
