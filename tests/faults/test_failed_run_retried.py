"""A run that FAILED (every file failed: its results could not be written) is retried through
Prefect's API, as the UI's Retry button does; the failed files are linted again and the rows
follow: FAILED -> PROCESSING -> COMPLETED, with the same task rows."""

import os
import signal

from sqlalchemy.orm import Session, sessionmaker

from tests.support.checks import assert_rows_match_files, retry_flow_run
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries, make_zip
from tests.support.system import System


def test_failed_run_retried_through_prefect_api(
    system: System, session_maker: sessionmaker[Session]
) -> None:
    entries = folder_entries(CORPUS / "tpch", "tpch")
    make_zip(system.shared_root / "archives/retry.zip", entries)
    worker = system.pids()["prefect-worker"]
    # Hold the worker so the run cannot start before the fault is in place.
    os.kill(worker, signal.SIGSTOP)
    try:
        job_id = system.submit({"zip_file_path": "archives/retry.zip"})
        blocker = system.shared_root / f"jobs/{job_id}/results"
        blocker.parent.mkdir(parents=True, exist_ok=True)  # the API made it (config layer)
        blocker.write_text("a file where the results folder should be")
    finally:
        os.kill(worker, signal.SIGCONT)

    body = system.wait_final(job_id)
    assert body["job_status"] == "FAILED", body
    assert body["error_message"] == f"all {len(entries)} files failed to lint"
    rows = assert_rows_match_files(session_maker, system.shared_root, job_id, set(entries))
    assert all("cannot write the result file" in str(r.error_message) for r in rows.values())
    task_ids = {name: r.task_id for name, r in rows.items()}
    system.wait_run_state(body["flow_run_id"], "FAILED")

    blocker.unlink()
    retry_flow_run(system.prefect_api, body["flow_run_id"])
    body = system.wait_rerun_final(job_id, body["flow_run_id"])
    assert body["job_status"] == "COMPLETED", body
    rows = assert_rows_match_files(session_maker, system.shared_root, job_id, set(entries))
    assert {name: r.task_id for name, r in rows.items()} == task_ids  # same rows, none added
    # The run's own end is its last step, just after the job's final status.
    system.wait_run_state(body["flow_run_id"], "COMPLETED")
