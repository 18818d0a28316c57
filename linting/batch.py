"""Linting a batch of a job's files where it runs (a Dask worker): each file in a lint child,
its result file written, its row and violations mirrored to the database as it finishes, so
polling shows progress. No Prefect here: `flows.lint_job.lint_batch` is its Prefect task.
"""

import logging
import socket
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.settings import get_settings
from db import queries
from db.engine import sessions
from db.models import TaskStatus
from db.retry import in_transaction
from linting import storage
from linting.children import from_cache, lint_with_limit
from linting.engine import LintRequest
from linting.fingerprints import decode_source, fingerprints
from linting.options import FolderConfigs, JobOptions, job_config_path
from linting.severity import severity_of

logger = logging.getLogger(__name__)

# Rows are mirrored at least this often while a batch runs, so polling shows progress.
_MIRROR_EVERY_SECONDS = 0.5


def lint_files(
    files: list[queries.tasks.PendingFile],
    job_id: str,
    options: dict[str, Any],
    cache_salt: str,
) -> dict[str, int]:
    """Lint a batch of a job's file tasks, write their results, mirror their rows.

    Safe to run twice (Dask re-runs a task whose worker died): files already SUCCESS are
    skipped, results are replaced atomically and rows are updated by task id, never inserted.

    Returns:
        Counts: files linted, files failed, violations found.

    Raises:
        sqlalchemy.exc.DBAPIError: the database stayed away past DB_RETRY_SECONDS (the Prefect
            task retries the batch).
    """
    summary, _ = _process(files, job_id, options, cache_salt, cached_only=False)
    return summary


def serve_cached(
    files: list[queries.tasks.PendingFile],
    job_id: str,
    options: dict[str, Any],
    cache_salt: str,
) -> list[queries.tasks.PendingFile]:
    """Finish the files whose result is cached (result file and row, as `lint_files` would),
    where this runs, with no lint child; returns the others, to be linted. A job whose files
    are all cached then needs no lint batch at all."""
    _, misses = _process(files, job_id, options, cache_salt, cached_only=True)
    return misses


def _process(
    files: list[queries.tasks.PendingFile],
    job_id: str,
    options: dict[str, Any],
    cache_salt: str,
    cached_only: bool,
) -> tuple[dict[str, int], list[queries.tasks.PendingFile]]:
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
        top=str(root / storage.extracted_dir(job_id)),
        cache_salt=cache_salt,
        # Fixed text is not cached: a fix job always runs SQLFluff.
        cache_dir=str(root / storage.RESULT_CACHE_DIR)
        if settings.RESULT_CACHE_ENABLED and not job_options.fix
        else None,
    )

    if cached_only and (base.cache_dir is None or not files):
        return {"files": 0, "failed": 0, "violations": 0}, files  # no cache: no round trips

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
    # Cached files go from PENDING to SUCCESS in one step: nothing runs that could be lost.
    already: set[str] = (
        set()
        if cached_only
        else in_transaction(
            session_maker,
            lambda s: queries.tasks.mark_in_progress(s, [f.task_id for f in files]),
            give_up_after=settings.DB_RETRY_SECONDS,
        )
    )
    files = [f for f in files if f.task_id not in already]
    # A project's own severity overrides beat the deployment's (issue 15).
    severity_overrides = {
        **settings.SEVERITY_OVERRIDES,
        **in_transaction(
            session_maker,
            lambda s: queries.projects.severity_overrides_of_job(s, job_id),
            give_up_after=settings.DB_RETRY_SECONDS,
        ),
    }
    host = _worker_name()
    configs = FolderConfigs()  # per folder: every file in it reads the same
    done: list[queries.tasks.TaskOutcome] = []
    misses: list[queries.tasks.PendingFile] = []
    summary = {"files": 0, "failed": 0, "violations": 0}
    last_mirror = time.monotonic()
    with writer:  # waits for the last write, even if linting raised
        for f in files:
            result_rel = storage.result_path(job_id, f.task_id)
            started = time.monotonic()
            request = replace(
                base,
                source=str(root / f.source_file_path),
                display_name=f.file_name,
                result=str(root / result_rel),
            )
            if cached_only:
                cached = from_cache(request, configs)
                if cached is None:
                    misses.append(f)
                    continue
                outcome = cached
            else:
                outcome = lint_with_limit(request, settings.LINT_TIMEOUT_SECONDS, configs)
            summary["files"] += 1
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
                        outcome.effective_config, root / f.source_file_path, root, configs
                    ),
                    violations=tuple(
                        violation_rows(
                            outcome.violations or [],
                            severity_overrides,
                            f.file_name,
                            root / f.source_file_path,
                        )
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
        "%s %d files: %d failed, %d violations",
        "served from the result cache" if cached_only else "linted",
        summary["files"],
        summary["failed"],
        summary["violations"],
    )
    return summary, misses


def _worker_name() -> str:
    """The Dask worker running this batch (its name), or this host's name outside Dask."""
    try:
        from distributed import get_worker

        return str(get_worker().name)[:255]
    except ValueError:
        return socket.gethostname()


def violation_rows(
    violations: list[dict[str, Any]],
    severity_overrides: Mapping[str, str],
    file_name: str = "",
    source: Path | None = None,
) -> Iterator[queries.violations.Violation]:
    """SQLFluff's violation records as rows of `linting_violations`, each with its fingerprint
    (linting.fingerprints) when the source file is given."""
    prints: list[str | None] = [None] * len(violations)
    if source is not None and violations:
        try:
            lines = decode_source(source.read_bytes())
        except OSError:
            lines = []
        prints = list(fingerprints(file_name, lines, violations))
    for v, fingerprint in zip(violations, prints, strict=True):
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
            fingerprint=fingerprint,
        )


def _with_config_files(
    effective: dict[str, Any] | None, source: Path, root: Path, configs: FolderConfigs
) -> dict[str, Any] | None:
    """The effective settings plus the config files SQLFluff read for this file (share paths)."""
    if effective is None:
        return None
    files = [p for p in configs.files(source.parent) if p.is_relative_to(root)]
    return {**effective, "config_files": [p.relative_to(root).as_posix() for p in files]}
