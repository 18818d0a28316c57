"""Accepting jobs: rows, stored sources, one flow run per job in the real Prefect API; health."""

import shutil
import time
from uuid import UUID

import httpx
import pytest
from fastapi.testclient import TestClient
from prefect import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy.orm import Session, sessionmaker

import flows.start
from core.settings import Settings, get_settings
from db import queries
from db.models import JobStatus, SubmissionType
from flows.start import trigger_lint_job
from tests.support.stand_ins import BusyPrefect, serving


def test_inline_sql_is_stored_and_triggers_one_flow_run(
    client: TestClient, session_maker: sessionmaker[Session], settings: Settings
) -> None:
    response = client.post(
        "/jobs", json={"sql_content": "select a from t\n", "dialect": "postgres"}
    )
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert job_id.startswith("job-") and UUID(job_id.removeprefix("job-")).version == 4
    with session_maker() as s:
        job = queries.jobs.get_job(s, job_id)
    assert job is not None
    assert (job.status, job.submission_type, job.dialect) == (
        JobStatus.ACCEPTED,
        SubmissionType.SINGLE_FILE,
        "postgres",
    )
    assert job.source_path == f"jobs/{job_id}/source/input.sql"
    assert (settings.NFS_SHARE_ROOT_PATH / job.source_path).read_text() == "select a from t\n"
    assert job.flow_run_id is not None
    with get_client(sync_client=True) as prefect:
        run = prefect.read_flow_run(UUID(job.flow_run_id))
    assert run.parameters == {"job_id": job_id}
    assert run.idempotency_key == job_id
    # A second trigger of the same job (reconciler, client retry) finds the same run.
    assert trigger_lint_job(settings.LINT_DEPLOYMENT, job_id) == job.flow_run_id


def test_zip_job_and_its_first_page(
    client: TestClient, session_maker: sessionmaker[Session]
) -> None:
    response = client.post("/jobs", json={"zip_file_path": "archives/ok.zip"})
    assert response.status_code == 202
    body = client.get(f"/jobs/{response.json()['job_id']}").json()
    assert body["job_status"] == "ACCEPTED"
    assert body["submission_type"] == "ZIP_ARCHIVE"
    assert body["source_path"] == "archives/ok.zip"
    assert body["error_message"] is None
    assert body["sub_tasks"] == {"total": 0, "page": 1, "size": 10, "items": []}


def test_health_names_the_part_that_fails(client: TestClient, settings: Settings) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    shutil.rmtree(settings.NFS_SHARE_ROOT_PATH)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["detail"] == (
        "shared directory: not a writable directory (NFS_SHARE_ROOT_PATH)"
    )
    assert str(settings.NFS_SHARE_ROOT_PATH) not in response.text  # /health is open


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/jobs", "/jobs/{job_id}", "/tasks/{task_id}/result", "/health"} <= set(paths)


def test_retry_while_prefect_cannot_start_the_run_is_503_and_changes_nothing(
    client: TestClient,
    session_maker: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A retry whose flow run cannot be created (Prefect away, deployment missing) is a 503 the
    caller may repeat, never a 500, and the job stays as it was."""
    job_id = client.post("/jobs", json={"sql_content": "select 1\n"}).json()["job_id"]
    with session_maker.begin() as s:
        job = queries.jobs.get_job(s, job_id)
        assert job is not None
        assert queries.jobs.give_up(s, job, job.flow_run_id, "lost", "lost")
    monkeypatch.setenv("LINT_DEPLOYMENT", "lint-job/not-deployed")
    get_settings.cache_clear()
    response = client.post(f"/jobs/{job_id}/retry")
    assert response.status_code == 503, response.text
    assert "could not be started" in response.json()["detail"]
    assert response.headers["Retry-After"] == "5"
    assert client.get(f"/jobs/{job_id}").json()["job_status"] == "FAILED"


def test_a_busy_prefect_is_retried_quickly_and_creates_one_run(
    settings: Settings, lint_deployment: str, prefect_api: str
) -> None:
    """Prefect on SQLite answers 503 while its database is locked: the trigger tries again at
    once (not after the client's 2-30 s backoff, nor after the reconciler's interval), and the
    job's key still gives one run."""
    with serving(BusyPrefect(prefect_api, busy_first=3)) as busy:
        started = time.monotonic()
        with temporary_settings({PREFECT_API_URL: busy.url}):
            first = trigger_lint_job(lint_deployment, "job-busy")
            again = trigger_lint_job(lint_deployment, "job-busy")
        took = time.monotonic() - started
    assert busy.creations == 5  # three 503s, the creation, the second trigger
    assert first == again
    assert took < 3, f"the trigger waited {took:.1f} s through three 503s"
    with get_client(sync_client=True) as prefect:
        runs = prefect.read_flow_runs(limit=200)
    assert [str(r.id) for r in runs if r.idempotency_key == "job-busy"] == [first]


def test_a_prefect_busy_past_the_trigger_timeout_fails_the_trigger(
    settings: Settings, lint_deployment: str, prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Still busy after TRIGGER_TIMEOUT_SECONDS: the trigger gives up (the job waits ACCEPTED
    for the reconciler) instead of holding the submission."""
    monkeypatch.setattr(flows.start, "TRIGGER_TIMEOUT_SECONDS", 1.0)
    with serving(BusyPrefect(prefect_api, busy_first=10**6)) as busy:
        with temporary_settings({PREFECT_API_URL: busy.url}), pytest.raises(httpx.HTTPStatusError):
            trigger_lint_job(lint_deployment, "job-busy-long")
    assert 3 <= busy.creations < 60
