"""The `lint-job` flow and its `lint-batch` task: orchestration only.

Path of a job: mark PROCESSING -> find the files (expand the ZIP) -> one task row per file
(idempotent) -> lint batches on the Dask task runner, each mirroring its rows as files finish
-> final status from the rows. Rows and result files are the truth; Prefect's task-run records
are never read back (its event queue drops events under load). Every DB write retries while the
database is away (`db.retry`), and a heartbeat marks the job alive for the reconciler.
"""

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.runtime import flow_run as current_flow_run
from prefect.runtime import task_run as current_task_run
from prefect.states import State
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from core.logging import log_context
from core.settings import Settings, get_settings
from db import queries
from db.engine import sessions
from db.models import JobStatus, SubmissionType, TaskStatus
from db.retry import in_transaction
from flows.runner import worker_threads
from linting import result_cache, storage
from linting.archive import ArchiveLimits, extract_archive
from linting.batching import make_batches
from linting.children import lint_with_limit
from linting.engine import LintRequest
from linting.errors import BadArchive, LintServiceError
from linting.options import (
    JobOptions,
    config_files_on_path,
    job_config_path,
    refused_configs,
)
from linting.severity import severity_of
from linting.status import finish_job

logger = logging.getLogger(__name__)

# Rows are mirrored at least this often while a batch runs, so polling shows progress.
_MIRROR_EVERY_SECONDS = 0.5


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
        return _lint_files(files, job_id, options, cache_salt)


def _lint_files(
    files: list[queries.tasks.PendingFile],
    job_id: str,
    options: dict[str, Any],
    cache_salt: str,
) -> dict[str, int]:
    settings = get_settings()
    root = settings.NFS_SHARE_ROOT_PATH
    session_maker = sessions(settings.DATABASE_URL)
    job_options = JobOptions.from_json(options, legacy_dialect=settings.SQLFLUFF_DIALECT)
    base = LintRequest.template(
        settings,
        job_options,
        max_bytes=settings.LINT_MAX_FILE_BYTES,
        extra_config=str(root / job_config_path(job_id)) if job_options.has_config else None,
        fix_dir=str(root / storage.fixes_dir(job_id)) if job_options.fix else None,
        job_root=str(root / storage.job_dir(job_id)),
        cache_salt=cache_salt,
        # Fixed text is not cached: a fix job always runs SQLFluff.
        cache_dir=str(root / storage.RESULT_CACHE_DIR)
        if settings.RESULT_CACHE_ENABLED and not job_options.fix
        else None,
    )

    # Rows are written by one writer thread while the next files lint: the lint child never
    # waits for the database. At most one write is in flight, so rows land in order.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mirror")
    in_flight: Future[None] | None = None

    def write_rows(outcomes: list[queries.tasks.TaskOutcome]) -> None:
        in_transaction(
            session_maker,
            lambda s: queries.tasks.mark_tasks(s, outcomes),
            give_up_after=settings.DB_RETRY_SECONDS,
        )

    def mirror(outcomes: list[queries.tasks.TaskOutcome]) -> None:
        nonlocal in_flight
        if in_flight is not None:
            in_flight.result()  # a write that gave up fails the batch (Prefect retries it)
        in_flight = writer.submit(write_rows, outcomes)

    # Dask runs a batch again when its worker is lost, results already held there included:
    # files that reached SUCCESS meanwhile (rows and result files are on shared storage) stay.
    already: set[str] = in_transaction(
        session_maker,
        lambda s: queries.tasks.mark_in_progress(s, [f.task_id for f in files]),
        give_up_after=settings.DB_RETRY_SECONDS,
    )
    files = [f for f in files if f.task_id not in already]
    host = _worker_name()
    config_files: dict[Path, list[str]] = {}  # per folder: every file in it reads the same
    done: list[queries.tasks.TaskOutcome] = []
    summary = {"files": len(files), "failed": 0, "violations": 0}
    last_mirror = time.monotonic()
    with writer:  # waits for the last write, even if linting raised
        for f in files:
            result_rel = storage.result_path(job_id, f.task_id)
            started = time.monotonic()
            outcome = lint_with_limit(
                replace(
                    base,
                    source=str(root / f.source_file_path),
                    display_name=f.file_name,
                    result=str(root / result_rel),
                ),
                timeout=settings.LINT_TIMEOUT_SECONDS,
            )
            if outcome.ok:
                summary["violations"] += outcome.violation_count or 0
            else:
                summary["failed"] += 1
                logger.warning(
                    "%s not linted: %s", f.file_name, outcome.error, extra={"task_id": f.task_id}
                )
            done.append(
                queries.tasks.TaskOutcome(
                    task_id=f.task_id,
                    status=TaskStatus.SUCCESS if outcome.ok else TaskStatus.FAILURE,
                    result_file_path=result_rel if outcome.ok else None,
                    error_message=outcome.error,
                    violation_count=outcome.violation_count,
                    file_name=f.file_name,
                    job_id=job_id,
                    effective_config=_with_config_files(
                        outcome.effective_config, root / f.source_file_path, root, config_files
                    ),
                    violations=tuple(
                        violation_rows(outcome.violations or [], settings.SEVERITY_OVERRIDES)
                    ),
                    lint_seconds=time.monotonic() - started,
                    lint_host=host,
                )
            )
            if time.monotonic() - last_mirror >= _MIRROR_EVERY_SECONDS:
                mirror(done)
                done, last_mirror = [], time.monotonic()
        mirror(done)
        assert in_flight is not None
        in_flight.result()
    logger.info(
        "linted %d files: %d failed, %d violations",
        summary["files"],
        summary["failed"],
        summary["violations"],
    )
    return summary


def _worker_name() -> str:
    """The Dask worker running this batch (its name), or this host's name outside Dask."""
    try:
        from distributed import get_worker

        return str(get_worker().name)[:255]
    except ValueError:
        return socket.gethostname()


def violation_rows(
    violations: list[dict[str, Any]], severity_overrides: Mapping[str, str]
) -> Iterator[queries.violations.Violation]:
    """SQLFluff's violation records as rows of `linting_violations`."""
    for v in violations:
        code = str(v.get("code") or "????")
        yield queries.violations.Violation(
            rule_code=code[:32],
            rule_name=str(v.get("name") or "")[:255],
            start_line=int(v.get("start_line_no") or 0),
            start_pos=int(v.get("start_line_pos") or 0),
            end_line=v.get("end_line_no"),
            end_pos=v.get("end_line_pos"),
            description=str(v.get("description") or ""),
            severity=severity_of(code, severity_overrides),
            warning=bool(v.get("warning")),
        )


def _with_config_files(
    effective: dict[str, Any] | None, source: Path, root: Path, known: dict[Path, list[str]]
) -> dict[str, Any] | None:
    """The effective settings plus the config files SQLFluff read for this file (share paths),
    looked up once per folder (`known`)."""
    if effective is None:
        return None
    folder = source.parent
    if folder not in known:
        known[folder] = [
            p.relative_to(root).as_posix()
            for p in config_files_on_path(folder)
            if p.is_relative_to(root)
        ]
    return {**effective, "config_files": known[folder]}


def collect_files(
    job_id: str, submission: SubmissionType, source_path: str, settings: Settings
) -> tuple[list[queries.tasks.NewTask], int]:
    """The job's files as task rows to ensure, and how many non-SQL files were ignored.

    Raises:
        BadArchive: the ZIP cannot be expanded safely, or holds no `.sql` file.
        LintServiceError: the source is gone or unsafe.
    """
    root = settings.NFS_SHARE_ROOT_PATH
    if submission == SubmissionType.SINGLE_FILE:
        return [queries.tasks.NewTask(source_path, storage.INLINE_SQL_NAME)], 0
    archive = storage.resolve_under_root(root, source_path)
    extracted = storage.extracted_dir(job_id)
    expansion = extract_archive(
        archive,
        root / extracted,
        ArchiveLimits(
            max_entries=settings.ZIP_MAX_ENTRIES,
            max_total_bytes=settings.ZIP_MAX_TOTAL_BYTES,
            max_file_bytes=settings.LINT_MAX_FILE_BYTES,
        ),
    )
    # A config the policy refuses fails the files beneath it, not the whole job.
    refused = refused_configs(root / extracted, expansion.config_files)
    rejected = dict(expansion.rejected)
    for name in expansion.sql_files:
        reason = _refused_above(name, refused)
        if reason is not None:
            rejected[name] = reason
    files = [
        queries.tasks.NewTask(f"{extracted}/{name}", name)
        for name in expansion.sql_files
        if name not in rejected
    ]
    files += [
        queries.tasks.NewTask(f"{extracted}/{name}", name, f"not linted: {reason}")
        for name, reason in rejected.items()
    ]
    if not files:
        raise BadArchive(
            f"archive holds no .sql files ({expansion.ignored_count} other files ignored)"
        )
    return files, expansion.ignored_count


def _refused_above(sql_file: str, refused: Mapping[str, str]) -> str | None:
    """The reason of a refused config in the SQL file's folder or any folder above it."""
    folder = PurePosixPath(sql_file).parent
    for config, reason in refused.items():
        if folder.is_relative_to(PurePosixPath(config).parent):
            return reason
    return None


@contextlib.contextmanager
def heartbeat(session_maker: sessionmaker[Session], job_id: str, every: float) -> Iterator[None]:
    """Mark the job alive every `every` seconds while the block runs (see services.reconcile)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                with session_maker.begin() as session:
                    queries.jobs.beat(session, job_id)
            except DBAPIError as exc:  # a missed beat is fine; the next one may land
                logger.warning("heartbeat of %s not written: %s", job_id, type(exc).__name__)

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(every)


def _fail_unfinished_job(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """Hook for crashed, failed and cancelled runs: never leave the job PROCESSING."""
    job_id = flow_run.parameters.get("job_id")
    if not job_id:
        return
    message = (
        f"flow run {flow_run.name} ended {state.type.value}: {state.message or 'no message'}; "
        "retry the job"
    )[:4000]
    settings = get_settings()
    changed = in_transaction(
        sessions(settings.DATABASE_URL),
        lambda s: queries.jobs.fail_job(s, job_id, message, only_if_unfinished=True),
        give_up_after=settings.DB_RETRY_SECONDS,
    )
    if changed:
        logger.error("job %s marked FAILED: %s", job_id, message)


def _start(session: Session, job_id: str) -> tuple[SubmissionType, str, dict[str, Any]]:
    job = queries.jobs.get_job(session, job_id)
    if job is None:
        raise ValueError(f"job {job_id} does not exist")
    queries.jobs.mark_job_processing(session, job_id, current_flow_run.id)
    options = JobOptions.from_json(job.options, legacy_dialect=job.dialect)
    return job.submission_type, job.source_path, options.to_json()


@flow(
    name="lint-job",
    flow_run_name="{job_id}",
    on_crashed=[_fail_unfinished_job],
    on_failure=[_fail_unfinished_job],
    on_cancellation=[_fail_unfinished_job],
)
def lint_job(job_id: str) -> dict[str, Any]:
    """Lint every SQL file of a job and set its final status (SPEC §7)."""
    with log_context(job_id=job_id, flow_run_id=str(current_flow_run.id or "")):
        return _run_job(job_id)


def _run_job(job_id: str) -> dict[str, Any]:
    log = logger  # also shown in the Prefect UI (PREFECT_LOGGING_EXTRA_LOGGERS)
    settings = get_settings()
    session_maker = sessions(settings.DATABASE_URL)
    patience = settings.DB_RETRY_SECONDS

    def write(work: Any) -> Any:
        return in_transaction(session_maker, work, give_up_after=patience)

    submission, source_path, options = write(lambda s: _start(s, job_id))
    with heartbeat(session_maker, job_id, settings.HEARTBEAT_SECONDS):
        try:
            files, ignored = collect_files(job_id, submission, source_path, settings)
        except LintServiceError as exc:
            reason = str(exc)
            write(lambda s: queries.jobs.fail_job(s, job_id, reason, only_if_unfinished=False))
            raise

        def ensure(session: Session) -> list[queries.tasks.PendingFile]:
            queries.jobs.set_ignored_file_count(session, job_id, ignored)
            return queries.tasks.ensure_tasks(session, job_id, files)

        pending: list[queries.tasks.PendingFile] = write(ensure)
        root = settings.NFS_SHARE_ROOT_PATH
        batches = make_batches(
            pending,
            size_of=lambda f: _size(root / f.source_file_path),
            max_bytes=settings.BATCH_MAX_BYTES,
            min_bytes=settings.BATCH_MIN_BYTES,
            max_files=settings.BATCH_MAX_FILES,
            workers=worker_threads(),
        )
        log.info("job %s: %d files to lint in %d batches", job_id, len(pending), len(batches))
        # Templates may include any file of the job's tree: cached results are keyed by it.
        salt = result_cache.tree_digest(root / storage.extracted_dir(job_id))
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

        def finish(session: Session) -> tuple[JobStatus, str | None, dict[TaskStatus, int]]:
            counts = queries.tasks.task_counts(session, job_id)
            return (*finish_job(session, job_id, counts), counts)

        status, message, counts = write(finish)
    summary = {k.value: v for k, v in counts.items()}
    log.info("job %s %s: %s", job_id, status.value, summary)
    if status == JobStatus.FAILED:
        raise RuntimeError(message or "job failed")
    return {"status": status.value, **summary}


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
