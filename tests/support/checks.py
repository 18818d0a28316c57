"""Consistency checks shared by the end-to-end and fault tests."""

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import JobStatus, LintingJob, LintingTask, TaskStatus


def assert_rows_match_files(
    sessions: sessionmaker[Session], shared_root: Path, job_id: str, expected_names: set[str]
) -> dict[str, LintingTask]:
    """Exactly one row per file; SUCCESS rows point at a readable result of that file; FAILURE
    rows carry a reason; the job's status agrees with its rows. Returns rows by file name."""
    with sessions() as session:
        job = session.scalar(select(LintingJob).where(LintingJob.job_id == job_id))
        rows = list(session.scalars(select(LintingTask).where(LintingTask.job_id == job_id)))
    assert job is not None
    names = [r.file_name for r in rows]
    assert sorted(names) == sorted(expected_names), "not exactly one row per file"
    for row in rows:
        if row.status == TaskStatus.SUCCESS:
            assert row.result_file_path == f"jobs/{job_id}/results/{row.task_id}.json"
            [record] = json.loads((shared_root / row.result_file_path).read_text())
            assert record["filepath"] == row.file_name
            assert row.violation_count == len(record["violations"])
        else:
            assert row.status == TaskStatus.FAILURE, f"{row.file_name} left {row.status}"
            assert row.error_message and row.result_file_path is None
    failed = sum(r.status == TaskStatus.FAILURE for r in rows)
    expected_status = (
        JobStatus.COMPLETED
        if failed == 0
        else JobStatus.FAILED
        if failed == len(rows)
        else JobStatus.PARTIALLY_COMPLETED
    )
    assert job.status == expected_status, (job.status, job.error_message)
    return {r.file_name: r for r in rows}


def force_flow_run_state(prefect_api: str, flow_run_id: str, state: dict[str, str]) -> None:
    """Set a run's state through Prefect's API as an operator (or a dying process) would."""
    UUID(flow_run_id)
    response = httpx.post(
        f"{prefect_api}/flow_runs/{flow_run_id}/set_state",
        json={"state": state, "force": True},
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text
    assert response.json()["status"] == "ACCEPT", response.text


def retry_flow_run(prefect_api: str, flow_run_id: str) -> None:
    """What the Prefect UI's Retry button does: force the run back to Scheduled/AwaitingRetry."""
    force_flow_run_state(
        prefect_api,
        flow_run_id,
        {"type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retry from the UI"},
    )


def flow_run(prefect_api: str, flow_run_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{prefect_api}/flow_runs/{flow_run_id}", timeout=30).json())
