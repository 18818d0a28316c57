"""Retention: the `cleanup` flow, called for real against the test Prefect server, on a database
holding expired and live jobs with their files on disk. Expired ended jobs lose their folders,
rows, tasks and violations (in batches) and answer 410 with when they expired; running jobs,
recent jobs and the source of a running re-lint are kept; the result cache is evicted least
recently used first down to CACHE_MAX_BYTES."""

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from db import queries
from db.models import (
    JobStatus,
    LintingJob,
    LintingTask,
    LintingViolation,
    Severity,
    SubmissionType,
    TaskStatus,
    utcnow,
)
from linting import result_cache
from linting.storage import RESULT_CACHE_DIR, inline_source_path, job_dir, result_path


def _job(
    sessions: sessionmaker[Session],
    root: Path,
    status: JobStatus,
    age_days: float,
    relint_of: str | None = None,
) -> str:
    """A job as the flow leaves one: its source and a result file on disk, a task, a violation,
    last changed `age_days` ago."""
    job_id = queries.jobs.new_job_id()
    task_id = f"task-{job_id}"
    source = inline_source_path(job_id)
    (root / source).parent.mkdir(parents=True)
    (root / source).write_text("select a from t\n")
    (root / result_path(job_id, task_id)).parent.mkdir(parents=True)
    (root / result_path(job_id, task_id)).write_text('{"violations": []}')
    with sessions.begin() as s:
        queries.jobs.insert_job(
            s, job_id, SubmissionType.SINGLE_FILE, source, "ansi", relint_of=relint_of
        )
        s.add(
            LintingTask(task_id=task_id, job_id=job_id, status=TaskStatus.SUCCESS,
                        source_file_path=source, result_file_path=result_path(job_id, task_id),
                        file_name="input.sql", source_path_hash=queries.tasks.path_hash(source))
        )  # fmt: skip
        s.flush()
        s.add(
            LintingViolation(job_id=job_id, task_id=task_id, file_name="input.sql",
                             rule_code="LT01", rule_name="layout.spacing", start_line=1,
                             start_pos=1, description="x", severity=Severity.MINOR)
        )  # fmt: skip
    with sessions.begin() as s:
        s.execute(
            update(LintingJob)
            .where(LintingJob.job_id == job_id)
            .values(status=status, updated_at=utcnow() - timedelta(days=age_days))
        )
    return job_id


def _rows(sessions: sessionmaker[Session], model: type, job_id: str) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(model.job_id == job_id)))  # type: ignore[attr-defined]


@pytest.mark.timeout(300)
def test_cleanup_removes_expired_jobs_only_and_bounds_the_cache(
    client: TestClient,
    settings: Settings,
    session_maker: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.settings import get_settings
    from flows.cleanup import cleanup

    root = settings.NFS_SHARE_ROOT_PATH
    expired = [_job(session_maker, root, s, 40) for s in
               (JobStatus.COMPLETED, JobStatus.PARTIALLY_COMPLETED, JobStatus.FAILED)]  # fmt: skip
    running_old = _job(session_maker, root, JobStatus.PROCESSING, 40)
    accepted_old = _job(session_maker, root, JobStatus.ACCEPTED, 40)
    recent = _job(session_maker, root, JobStatus.COMPLETED, 1)
    relinted = _job(session_maker, root, JobStatus.COMPLETED, 40)
    relint = _job(session_maker, root, JobStatus.PROCESSING, 0, relint_of=relinted)
    kept = [running_old, accepted_old, recent, relinted, relint]

    # Four 1000-byte cache entries used at t-400, t-300, t-200, t-100 s; the oldest is then hit.
    cache = root / RESULT_CACHE_DIR
    keys = [f"{i:02d}" + "a" * 62 for i in range(4)]
    now = time.time()
    for i, key in enumerate(keys):
        result_cache.store(cache, key, {"pad": "x" * 900}, None)
        path = result_cache.entry_path(cache, key)
        path.write_bytes(path.read_bytes().ljust(1000))
        os.utime(path, (now - 400 + 100 * i, now - 400 + 100 * i))
    assert result_cache.load(cache, keys[0]) is not None  # now the most recently used

    monkeypatch.setenv("RETENTION_DAYS", "30")
    monkeypatch.setenv("CACHE_MAX_BYTES", "2500")
    get_settings.cache_clear()
    report = cleanup(batch_size=2)  # three expired jobs: two batches

    assert report["jobs_removed"] == 3 and report["folders_not_removed"] == []
    assert report["job_bytes_freed"] == 3 * (len("select a from t\n") + len('{"violations": []}'))
    assert report["cache_entries_evicted"] == 2 and report["cache_bytes_freed"] == 2000
    assert report["cache_bytes"] == 2000
    # Least recently used went: entries 1 and 2; 0 (hit) and 3 (newest) stay.
    present = [result_cache.entry_path(cache, k).exists() for k in keys]
    assert present == [True, False, False, True]

    for job_id in expired:
        assert not (root / job_dir(job_id)).exists()
        for model in (LintingJob, LintingTask, LintingViolation):
            assert _rows(session_maker, model, job_id) == 0, (model, job_id)
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 410, response.text
        assert response.headers["content-type"] == "application/problem+json"
        detail = response.json()["detail"]
        assert detail.startswith("Job expired at 20") and "results were removed" in detail
        assert client.get(f"/jobs/{job_id}/violations").status_code == 410
    for job_id in kept:
        assert (root / inline_source_path(job_id)).is_file(), job_id
        assert _rows(session_maker, LintingViolation, job_id) == 1, job_id
        assert client.get(f"/jobs/{job_id}").status_code == 200
    assert client.get("/jobs/job-00000000-0000-0000-0000-000000000000").status_code == 404

    # Run again: nothing more to free.
    again = cleanup()
    assert again["jobs_removed"] == 0 and again["cache_entries_evicted"] == 0


def test_cleanup_is_off_by_default(
    client: TestClient, settings: Settings, session_maker: sessionmaker[Session]
) -> None:
    from flows.cleanup import cleanup

    old = _job(session_maker, settings.NFS_SHARE_ROOT_PATH, JobStatus.COMPLETED, 3650)
    report = cleanup()
    assert report["jobs_removed"] == 0 and report["cache_bytes"] is None
    assert client.get(f"/jobs/{old}").status_code == 200


def test_cleanup_removes_old_folders_no_job_points_at(
    client: TestClient, settings: Settings, session_maker: sessionmaker[Session]
) -> None:
    """An upload whose API process was killed mid-copy leaves a temp file in a folder that no
    job row names: removed once old enough, while a fresh one (an upload being accepted) and
    a live job's folder stay."""
    from flows.cleanup import ORPHAN_GRACE_SECONDS, cleanup

    root = settings.NFS_SHARE_ROOT_PATH
    live = _job(session_maker, root, JobStatus.COMPLETED, 0)
    orphan, fresh = queries.jobs.new_job_id(), queries.jobs.new_job_id()
    for job_id in (orphan, fresh):
        partial = root / job_dir(job_id) / "upload/.tmp-abc.sql"
        partial.parent.mkdir(parents=True)
        partial.write_bytes(b"select 1 fr")
    old = time.time() - ORPHAN_GRACE_SECONDS - 60
    for folder in (root / job_dir(orphan), root / job_dir(live)):
        os.utime(folder, (old, old))

    report = cleanup()

    assert report["orphan_folders_removed"] == 1, report
    assert not (root / job_dir(orphan)).exists()
    assert (root / job_dir(fresh) / "upload/.tmp-abc.sql").is_file()
    assert (root / inline_source_path(live)).is_file()
    assert client.get(f"/jobs/{live}").status_code == 200
