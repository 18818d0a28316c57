"""The `relint` flow: re-lint stored SQL with the current SQLFluff and configuration.

Selects original jobs by age, status and dialect; for each, a new job on the same stored source
with the same options (linked by `relint_of`) is linted by the `lint-job` deployment, as any job;
then what changed is recorded on the new job: violations added and removed, by rule, compared as
(file, rule, line, position). Run on a cron schedule (RELINT_CRON) or on demand from the Prefect
UI or CLI (`prefect deployment run relint/relint`).
"""

import logging
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from prefect import flow

from core.settings import get_settings
from db import queries
from db.engine import sessions
from db.models import FINAL_JOB_STATUSES, JobStatus, utcnow
from db.retry import in_transaction
from flows.start import NewJob, create_job
from linting.options import JobOptions, job_config_path

RELINT_SUBMITTER = "relint"
logger = logging.getLogger(__name__)


def changes_between(
    before: Counter[tuple[str, str, int, int]], after: Counter[tuple[str, str, int, int]]
) -> dict[str, Any]:
    """Violations added and removed from one run to the next, in all and by rule."""
    added, removed = after - before, before - after

    def by_rule(found: Counter[tuple[str, str, int, int]]) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for (_, rule, _, _), n in found.items():
            counts[rule] += n
        return dict(sorted(counts.items()))

    return {
        "added": sum(added.values()),
        "removed": sum(removed.values()),
        "added_by_rule": by_rule(added),
        "removed_by_rule": by_rule(removed),
    }


@flow(name="relint", flow_run_name="relint")
def relint(
    older_than_hours: float | None = None,
    statuses: list[JobStatus] = [JobStatus.COMPLETED, JobStatus.PARTIALLY_COMPLETED],  # noqa: B006 - Prefect parameters are copied per run
    dialect: str | None = None,
    limit: int | None = None,
    wait_timeout_seconds: float = 3600.0,
) -> dict[str, Any]:
    """Re-lint up to `limit` jobs created over `older_than_hours` ago with one of `statuses`
    (and `dialect`, if given); returns counts and the changes per original job. Unset, `limit`
    and `older_than_hours` are RELINT_LIMIT and RELINT_OLDER_THAN_HOURS of the process running
    the flow (the deployments pass no parameters: the environment is the one source)."""
    log = logger  # also shown in the Prefect UI (PREFECT_LOGGING_EXTRA_LOGGERS)
    settings = get_settings()
    if older_than_hours is None:
        older_than_hours = settings.RELINT_OLDER_THAN_HOURS
    if limit is None:
        limit = settings.RELINT_LIMIT
    session_maker = sessions(settings.DATABASE_URL)
    root = settings.NFS_SHARE_ROOT_PATH

    def write(work: Any) -> Any:
        return in_transaction(session_maker, work, give_up_after=settings.DB_RETRY_SECONDS)

    cutoff = utcnow() - timedelta(hours=older_than_hours)
    with session_maker() as session:
        originals = queries.jobs.relint_candidates(session, cutoff, statuses, dialect, limit)
    pairs: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    for job in originals:
        options = JobOptions.from_json(job.options, legacy_dialect=job.dialect)
        config_file = root / job_config_path(job.job_id)
        if not (root / job.source_path).is_file():
            skipped[job.job_id] = f"its source {job.source_path} is gone"
            continue
        if options.has_config and not config_file.is_file():
            skipped[job.job_id] = f"its config {job_config_path(job.job_id)} is gone"
            continue
        new_id = queries.jobs.new_job_id()
        config_text = config_file.read_text("utf-8") if options.has_config else None
        new = NewJob(
            job_id=new_id,
            submission=job.submission_type,
            source_path=job.source_path,
            options=options,
            config_text=config_text,
            submitter=RELINT_SUBMITTER,
            relint_of=job.job_id,
        )
        create_job(settings, session_maker, new, more_tags=("relint",))
        pairs.append((job.job_id, new_id))
        log.info("re-linting %s as %s", job.job_id, new_id)
    for job_id, reason in skipped.items():
        log.warning("not re-linting %s: %s", job_id, reason)

    _wait_final(session_maker, [new for _, new in pairs], wait_timeout_seconds)
    changes: dict[str, Any] = {}
    for original, new_id in pairs:
        with session_maker() as session:
            change = changes_between(
                queries.violations.violation_keys(session, original),
                queries.violations.violation_keys(session, new_id),
            )
        change["original"] = original
        write(
            lambda s, new_id=new_id, change=change: queries.jobs.set_relint_changes(
                s, new_id, change
            )
        )
        changes[new_id] = change
        added, removed = change["added"], change["removed"]
        log.info("%s -> %s: +%d -%d violations", original, new_id, added, removed)
    return {"relinted": len(pairs), "skipped": skipped, "changes": changes}


def _wait_final(session_maker: Any, job_ids: list[str], timeout: float) -> None:
    """Wait until every job is final (their lint-job runs end them, or the reconciler does)."""
    deadline = time.monotonic() + timeout
    waiting = set(job_ids)
    while waiting:
        with session_maker() as session:
            for job_id in list(waiting):
                job = queries.jobs.get_job(session, job_id)
                if job is None or job.status in FINAL_JOB_STATUSES:
                    waiting.discard(job_id)
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(waiting)} re-lint jobs not final after {timeout:g} s")
        time.sleep(2)
