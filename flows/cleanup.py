"""The `cleanup` flow: retention. Removes ended jobs untouched for RETENTION_DAYS (their rows,
tasks and violations in bounded batches, each behind a tombstone so GET /jobs/{id} answers 410,
then their folders on the shared root), removes job folders no row points at (an upload whose
API process was killed before its job was stored) once ORPHAN_GRACE_SECONDS old, and evicts
the least recently used result-cache entries past CACHE_MAX_BYTES. Never touches a running
job. Returns what it freed (also logged).

Scheduled by CLEANUP_CRON; run on demand with `prefect deployment run cleanup/cleanup`.
Parameters left unset take the settings of the process that runs the flow.
"""

import logging
import time
from datetime import timedelta
from typing import Any

from prefect import flow

from core.settings import get_settings
from db import queries
from db.engine import sessions
from db.models import utcnow
from db.retry import in_transaction
from linting import result_cache
from linting.storage import RESULT_CACHE_DIR, job_dir, remove_tree

logger = logging.getLogger(__name__)

# A folder is made before its job's row (the upload is stored first): younger than this, it may
# be an upload being accepted right now.
ORPHAN_GRACE_SECONDS = 3600.0


@flow(name="cleanup", flow_run_name="cleanup")
def cleanup(
    retention_days: float | None = None,
    cache_max_bytes: int | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Remove expired jobs and evict the result cache down to its bound; returns counts and
    bytes freed. 0 days or 0 bytes switch that part off."""
    settings = get_settings()
    days = settings.RETENTION_DAYS if retention_days is None else retention_days
    max_bytes = settings.CACHE_MAX_BYTES if cache_max_bytes is None else cache_max_bytes
    batch = batch_size or settings.CLEANUP_BATCH_SIZE
    root = settings.NFS_SHARE_ROOT_PATH
    report: dict[str, Any] = {
        "jobs_removed": 0,
        "job_bytes_freed": 0,
        "folders_not_removed": [],
        "cache_entries_evicted": 0,
        "cache_bytes_freed": 0,
        "cache_bytes": None,
        "orphan_folders_removed": _remove_orphan_folders(settings),
    }
    if days > 0:
        _remove_expired_jobs(settings, days, batch, report)
    if max_bytes > 0:
        evicted, freed, left = result_cache.evict(root / RESULT_CACHE_DIR, max_bytes)
        report.update(cache_entries_evicted=evicted, cache_bytes_freed=freed, cache_bytes=left)
    logger.info(
        "cleanup freed %d jobs (%d bytes), %d cache entries (%d bytes), %d orphan job folders",
        report["jobs_removed"],
        report["job_bytes_freed"],
        report["cache_entries_evicted"],
        report["cache_bytes_freed"],
        report["orphan_folders_removed"],
    )
    return report


def _remove_expired_jobs(settings: Any, days: float, batch: int, report: dict[str, Any]) -> None:
    session_maker = sessions(settings.DATABASE_URL)
    root = settings.NFS_SHARE_ROOT_PATH
    cutoff = utcnow() - timedelta(days=days)
    while True:
        with session_maker() as session:
            candidates = queries.retention.expired_job_ids(session, cutoff, batch)
        if not candidates:
            return
        # Rows first: once a job's row is gone nothing reads its folder, so a folder that
        # cannot be deleted is left over disk, never a job pointing at missing files.
        removed = in_transaction(
            session_maker,
            lambda s, ids=candidates: queries.retention.expire_jobs(s, ids, cutoff),
            give_up_after=settings.DB_RETRY_SECONDS,
        )
        for job_id in removed:
            try:
                report["job_bytes_freed"] += remove_tree(root / job_dir(job_id))
            except OSError as exc:
                logger.warning("expired job %s: folder not removed: %s", job_id, exc)
                report["folders_not_removed"].append(job_id)
        report["jobs_removed"] += len(removed)
        if len(candidates) < batch or not removed:
            return


def _remove_orphan_folders(settings: Any) -> int:
    """Job folders older than ORPHAN_GRACE_SECONDS without a job row: nothing reads them."""
    jobs = settings.NFS_SHARE_ROOT_PATH / "jobs"
    cutoff = time.time() - ORPHAN_GRACE_SECONDS
    old = [p for p in jobs.glob("job-*") if p.is_dir() and p.stat().st_mtime < cutoff]
    if not old:
        return 0
    with sessions(settings.DATABASE_URL)() as session:
        known = queries.retention.known_job_ids(session, [p.name for p in old])
    removed = 0
    for folder in old:
        if folder.name in known:
            continue
        try:
            remove_tree(folder)
            removed += 1
        except OSError as exc:
            logger.warning("orphan folder %s not removed: %s", folder.name, exc)
    return removed
