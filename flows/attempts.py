"""The end of a run that did not finish its job: retry it automatically, or give up.

A run ends without finishing its job only for the service's own reasons: its process crashed,
its host died, its runner shut down, the database or the shared directory stayed away past the
retries, a lint batch was lost. Bad input never gets here: the flow sets the job's final status
(FAILED "no SQL files to lint", a bad archive, every file failing) before its run ends, and a
final job is never retried. So every such end starts the job's next attempt, a new run of the
same deployment tagged `auto-retry` that re-lints the files not SUCCESS, after
JOB_RETRY_BACKOFF_SECONDS (doubled per attempt), until JOB_MAX_ATTEMPTS; then the job is FAILED
with each attempt's reason kept in `linting_job_attempts`.

Called by the run's own hooks (flows/lint_job.py) and by the reconciler (services/reconcile.py)
when no hook ran (a power cut, a lost host). Both may see the same end, and several API
instances reconcile at once: the update is conditional on the job's current attempt and run,
so exactly one of them moves the job on.
"""

import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.states import State
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from db import queries
from db.models import FINAL_JOB_STATUSES, utcnow
from db.retry import in_transaction

logger = logging.getLogger(__name__)

RETRY = "retry"
GAVE_UP = "gave up"

# The message of a run cancelled by its runner's shutdown (SIGTERM to `prefect serve`, a host
# going down): an infrastructure end, unlike a person cancelling the run in the UI.
RUNNER_SHUTDOWN = "Runner is shutting down"


def cancelled_by_runner(state: State[Any], flow_run_id: str | None = None) -> bool:
    """Whether a cancelled (or cancelling) run was cancelled by its runner shutting down, not
    by a person.

    Judged on the run's whole history when Prefect answers, not on its last state alone: a
    runner that dies while cancelling leaves the run CANCELLING, and Prefect's server later
    marks it CANCELLED with a message of its own ("Flow run cancellation timed out"), which
    must not read as a person's decision.

    Raises:
        PrefectException, httpx.HTTPError: Prefect did not answer (then nothing is decided).
    """
    if RUNNER_SHUTDOWN in (state.message or ""):
        return True
    if not flow_run_id:
        return False
    with get_client(sync_client=True) as client:
        history = client.read_flow_run_states(UUID(flow_run_id))
    return any(RUNNER_SHUTDOWN in (s.message or "") for s in history)


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds before attempt `attempt + 1`, after attempt `attempt` ended."""
    return settings.JOB_RETRY_BACKOFF_SECONDS * 2 ** max(attempt - 1, 0)


def end_attempt(
    settings: Settings,
    sessions: sessionmaker[Session],
    job_id: str,
    flow_run_id: str | None,
    reason: str,
    *,
    retry: bool = True,
) -> str | None:
    """The job's run `flow_run_id` ended, for `reason`, without finishing the job.

    `retry` False: the end was a person's (a run cancelled in the UI): the job is FAILED at
    once, whatever attempts are left. Every change is conditional on the job being unfinished
    and still on this attempt and run, and logged.

    Returns:
        RETRY (the next attempt is queued), GAVE_UP (the job is FAILED), or None: nothing to do
        (the job is final, on another run, or another caller got there first).
    """

    def work(session: Session) -> str | None:
        job = queries.jobs.get_job(session, job_id)
        if job is None or job.status in FINAL_JOB_STATUSES or job.flow_run_id != flow_run_id:
            return None
        if retry and job.attempt < settings.JOB_MAX_ATTEMPTS:
            after = utcnow() + timedelta(seconds=backoff(settings, job.attempt))
            queued = queries.jobs.schedule_retry(session, job, flow_run_id, reason, after)
            return RETRY if queued else None
        message = (
            f"{job.attempt} attempts failed (JOB_MAX_ATTEMPTS={settings.JOB_MAX_ATTEMPTS}); "
            f"the last: {reason}; retry the job"
            if retry
            else f"{reason}; retry the job"
        )[:4000]
        return GAVE_UP if queries.jobs.give_up(session, job, flow_run_id, reason, message) else None

    outcome = in_transaction(sessions, work, give_up_after=settings.DB_RETRY_SECONDS)
    extra = {"job_id": job_id, "flow_run_id": flow_run_id}
    if outcome == RETRY:
        logger.warning("attempt ended (%s); the job will be retried", reason, extra=extra)
    elif outcome == GAVE_UP:
        logger.error("attempt ended (%s); job FAILED", reason, extra=extra)
    else:
        logger.info("attempt end (%s) already handled or superseded", reason, extra=extra)
    return outcome
