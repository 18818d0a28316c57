"""SIGKILL the flow-run process mid-job: the job becomes FAILED (retryable) within seconds; a
retry through Prefect's API (the UI's Retry) re-runs only what did not succeed."""

import os

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import LintingTask, TaskStatus
from tests.support.checks import assert_rows_match_files, flow_run, retry_flow_run
from tests.support.faults import job_in_progress
from tests.support.system import System


def test_flow_run_killed_then_retried(
    system: System, workload_zip: tuple[str, set[str]], session_maker: sessionmaker[Session]
) -> None:
    zip_path, names = workload_zip
    job_id = job_in_progress(system, zip_path)
    [engine] = system.flow_run_processes()
    system.kill(engine)

    body = system.wait_job(job_id, lambda b: b["job_status"] == "FAILED", 60, "not FAILED")
    assert "retry the job" in body["error_message"]
    system.wait_run_state(body["flow_run_id"], "CRASHED")
    # Batches already on Dask finish on their own; wait until nothing is in flight.
    system.wait_job(job_id, lambda b: b["progress"]["IN_PROGRESS"] == 0, 120, "still in flight")
    with session_maker() as s:
        before = {
            row.file_name: os.stat(system.shared_root / str(row.result_file_path)).st_mtime_ns
            for row in s.scalars(select(LintingTask).where(LintingTask.job_id == job_id))
            if row.status == TaskStatus.SUCCESS
        }
    assert 0 < len(before) < len(names), len(before)

    retry_flow_run(system.prefect_api, body["flow_run_id"])
    body = system.wait_rerun_final(job_id, body["flow_run_id"])
    assert body["job_status"] == "COMPLETED", body
    rows_by_name = assert_rows_match_files(session_maker, system.shared_root, job_id, names)
    for name, mtime in before.items():
        path = system.shared_root / str(rows_by_name[name].result_file_path)
        assert os.stat(path).st_mtime_ns == mtime, f"{name} was linted again"
    assert flow_run(system.prefect_api, body["flow_run_id"])["run_count"] == 2
