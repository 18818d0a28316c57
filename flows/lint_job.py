"""The `lint-job` flow and its `lint-batch` task: orchestration only.

Path of a job: mark PROCESSING -> find the files (expand the ZIP) -> one task row per file
(idempotent) -> lint batches on the Dask task runner, each mirroring its rows as files finish
-> final status from the rows. Rows and result files are the truth; Prefect's task-run records
are never read back (its event queue drops events under load). Every DB write retries while the
database is away (`db.retry`), and a heartbeat marks the job alive for the reconciler.
"""

import logging
import os
from pathlib import Path
from typing import Any

import httpx
from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import PrefectException
from prefect.runtime import flow_run as current_flow_run
from prefect.runtime import task_run as current_task_run
from prefect.states import State
from sqlalchemy.orm import Session

from core.logging import log_context
from core.settings import get_settings
from db import queries
from db.engine import sessions
from db.models import JobStatus, SubmissionType, TaskStatus
from db.retry import in_transaction
from flows.attempts import cancelled_by_runner, end_attempt
from flows.heartbeat import heartbeat
from flows.runner import worker_threads
from flows.warm_start import started_warm
from linting import result_cache, storage
from linting.batch import lint_files, serve_cached
from linting.batching import make_batches
from linting.errors import LintServiceError
from linting.options import JobOptions
from linting.sources import collect_files
from linting.status import finish_job

logger = logging.getLogger(__name__)


def _batch_run_name() -> str:
    files = current_task_run.parameters["files"]
    first = files[0].file_name if files else "nothing"
    return f"lint {first} +{len(files) - 1}" if len(files) > 1 else f"lint {first}"


@task(
    name="lint-batch",
    task_run_name=_batch_run_name,
    retries=2,
    retry_delay_seconds=[2, 10],
    cache_policy=NO_CACHE,
    persist_result=False,
)
def lint_batch(
    files: list[queries.tasks.PendingFile],
    job_id: str,
    options: dict[str, Any],
    cache_salt: str = "",
) -> dict[str, int]:
    """Lint a batch of files on a Dask worker; write result files; mirror each row.

    Safe to run twice (Dask re-runs a task whose worker died): results are replaced atomically
    and rows are updated by task id, never inserted.
    """
    with log_context(
        job_id=job_id,
        flow_run_id=str(current_flow_run.id or ""),
        task_run_id=str(current_task_run.id or ""),
    ):
        return lint_files(files, job_id, options, cache_salt)


def _end_attempt(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """Hook for crashed, failed and cancelled runs: never leave the job PROCESSING.

    A crash, a failure (the job is not final: its input was fine) and a cancellation by a
    shutting-down runner end the attempt, and the job is retried automatically
    (flows/attempts.py); a run cancelled by a person fails the job. Either only while this run
    is the job's current one.
    """
    job_id = flow_run.parameters.get("job_id")
    if not job_id:
        return
    reason = (
        f"flow run {flow_run.name} ended {state.type.value}: {state.message or 'no message'}"
    )[:4000]
    settings = get_settings()
    try:
        by_person = (state.is_cancelling() or state.is_cancelled()) and not cancelled_by_runner(
            state, str(flow_run.id)
        )
    except (PrefectException, httpx.HTTPError) as exc:
        # Undecided: the reconciler settles the job from the run's state once Prefect answers.
        logger.warning("job %s: the run's cancellation not judged: %s", job_id, exc)
        return
    end_attempt(
        settings,
        sessions(settings.DATABASE_URL),
        job_id,
        str(flow_run.id),
        reason,
        retry=not by_person,
    )


def _start(session: Session, job_id: str) -> tuple[SubmissionType, str, dict[str, Any]] | None:
    """The job's source and options, once it is PROCESSING by this run; None when this run is
    not the job's (superseded by a later attempt)."""
    job = queries.jobs.get_job(session, job_id)
    if job is None:
        raise ValueError(f"job {job_id} does not exist")
    run_id = str(current_flow_run.id) if current_flow_run.id else None
    if not queries.jobs.mark_job_processing(session, job_id, run_id):
        return None
    options = JobOptions.from_json(job.options, legacy_dialect=job.dialect)
    return job.submission_type, job.source_path, options.to_json()


@flow(
    name="lint-job",
    flow_run_name="{job_id}",
    on_crashed=[_end_attempt],
    on_failure=[_end_attempt],
    on_cancellation=[_end_attempt],
)
def lint_job(job_id: str) -> dict[str, Any]:
    """Lint every SQL file of a job and set its final status (docs/api.md, The flow)."""
    with log_context(job_id=job_id, flow_run_id=str(current_flow_run.id or "")):
        return _run_job(job_id)


def _run_job(job_id: str) -> dict[str, Any]:
    log = logger  # also shown in the Prefect UI (PREFECT_LOGGING_EXTRA_LOGGERS)
    settings = get_settings()
    session_maker = sessions(settings.DATABASE_URL)
    patience = settings.DB_RETRY_SECONDS

    def write(work: Any) -> Any:
        return in_transaction(session_maker, work, give_up_after=patience)

    # Operators (and a test) tell a warm start from a new interpreter by this line.
    how = "forked from the warm server" if started_warm() else "a new interpreter"
    log.info("job %s: flow-run process %d of %d, %s", job_id, os.getpid(), os.getppid(), how)
    started = write(lambda s: _start(s, job_id))
    if started is None:
        log.warning("job %s belongs to another run now: this run does nothing", job_id)
        return {"status": "superseded"}
    submission, source_path, options = started
    run_id = str(current_flow_run.id) if current_flow_run.id else None
    with heartbeat(session_maker, job_id, settings.HEARTBEAT_SECONDS):
        try:
            files, ignored = collect_files(job_id, submission, source_path, settings)
        except LintServiceError as exc:
            reason = str(exc)

            def fail(session: Session) -> bool:
                # Bad input: never retried. Only while this run is the job's.
                job = queries.jobs.get_job(session, job_id)
                return job is not None and queries.jobs.give_up(
                    session, job, run_id, reason, reason
                )

            if write(fail):
                log.error("job %s FAILED: %s", job_id, reason)
            raise

        def ensure(session: Session) -> list[queries.tasks.PendingFile]:
            queries.jobs.set_ignored_file_count(session, job_id, ignored)
            return queries.tasks.ensure_tasks(session, job_id, files)

        pending: list[queries.tasks.PendingFile] = write(ensure)
        root = settings.NFS_SHARE_ROOT_PATH
        # Templates may include any file of the job's tree: cached results are keyed by it.
        salt = result_cache.tree_digest(root / storage.extracted_dir(job_id))
        # Cached files are finished here: no Prefect task run or Dask round trip for them, so an
        # unchanged archive re-linted costs little more than reading it.
        pending = serve_cached(pending, job_id, options, salt)
        # Nothing left to lint: the run never connects to the cluster (~20 ms, and as much
        # again to disconnect when the run ends).
        batches = (
            make_batches(
                pending,
                size_of=lambda f: _size(root / f.source_file_path),
                max_bytes=settings.BATCH_MAX_BYTES,
                min_bytes=settings.BATCH_MIN_BYTES,
                max_files=settings.BATCH_MAX_FILES,
                workers=worker_threads(),
            )
            if pending
            else []
        )
        log.info("job %s: %d files to lint in %d batches", job_id, len(pending), len(batches))
        futures = lint_batch.map(
            batches,
            job_id=unmapped(job_id),
            options=unmapped(options),
            cache_salt=unmapped(salt),
        )
        for future in futures:
            future.wait()
            if future.state.is_failed() or future.state.is_crashed():
                log.error("a lint batch of job %s ended %s", job_id, future.state.type.value)

        def finish(session: Session) -> tuple[JobStatus | None, str | None, dict[TaskStatus, int]]:
            counts = queries.tasks.task_counts(session, job_id)
            if counts[TaskStatus.PENDING] + counts[TaskStatus.IN_PROGRESS]:
                return None, None, counts  # a batch was lost: the attempt ends, not the job
            ended = finish_job(session, job_id, counts, flow_run_id=run_id)
            if ended is None:
                return None, "superseded", counts
            queries.jobs.end_attempt(session, job_id, None)
            return (*ended, counts)

        status, message, counts = write(finish)
    summary = {k.value: v for k, v in counts.items()}
    if status is None and message == "superseded":
        log.warning("job %s belongs to another run now: its status is that run's", job_id)
        return {"status": "superseded", **summary}
    if status is None:
        unfinished = counts[TaskStatus.PENDING] + counts[TaskStatus.IN_PROGRESS]
        raise RuntimeError(
            f"{unfinished} of {sum(counts.values())} files were not linted (a lint batch was lost)"
        )
    log.info("job %s %s: %s", job_id, status.value, summary)
    if status == JobStatus.FAILED:
        raise RuntimeError(message or "job failed")
    return {"status": status.value, **summary}


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
