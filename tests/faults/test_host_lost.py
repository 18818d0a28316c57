"""The flow's host dies (serve process and flow-run process SIGKILLed together): nothing in
Prefect notices, so the reconciler does, from the stopped heartbeat; the run is set Crashed, the
job FAILED (retryable) within STALE_AFTER_SECONDS + RECONCILE_INTERVAL_SECONDS; a retry then
completes it once the supervisor has the serve process back."""

import time

from sqlalchemy.orm import Session, sessionmaker

from tests.support.checks import assert_rows_match_files, retry_flow_run
from tests.support.faults import FAULT_ENV, job_in_progress
from tests.support.system import System


def test_host_lost_mid_job(
    system: System, workload_zip: tuple[str, set[str]], session_maker: sessionmaker[Session]
) -> None:
    zip_path, names = workload_zip
    job_id = job_in_progress(system, zip_path)
    serve = system.pids()["serve"]
    [engine] = system.flow_run_processes()
    system.kill(serve)
    system.kill(engine)
    killed_at = time.monotonic()

    body = system.wait_job(job_id, lambda b: b["job_status"] == "FAILED", 90, "not FAILED")
    took = time.monotonic() - killed_at
    bound = (
        float(FAULT_ENV["STALE_AFTER_SECONDS"])
        + 2 * float(FAULT_ENV["RECONCILE_INTERVAL_SECONDS"])
        + 5
    )
    assert took < bound, f"job failed only after {took:.1f} s"
    assert "no heartbeat" in body["error_message"] and "retry the job" in body["error_message"]
    system.wait_run_state(body["flow_run_id"], "CRASHED")

    system.wait_job(job_id, lambda _: system.pids()["serve"] != serve, 60, "serve not restarted")
    system.wait_job(job_id, lambda b: b["progress"]["IN_PROGRESS"] == 0, 120, "still in flight")
    retry_flow_run(system.prefect_api, body["flow_run_id"])
    body = system.wait_rerun_final(job_id, body["flow_run_id"])
    assert body["job_status"] == "COMPLETED", body
    assert_rows_match_files(session_maker, system.shared_root, job_id, names)
