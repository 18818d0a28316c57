"""The flow's host dies (worker and flow-run process SIGKILLed together): nothing in
Prefect notices, so the reconciler does, from the stopped heartbeat, within
STALE_AFTER_SECONDS + RECONCILE_INTERVAL_SECONDS; the run is set Crashed and the job re-run by
itself once the supervisor has the worker back; it ends COMPLETED."""

import time

from sqlalchemy.orm import Session, sessionmaker

from tests.support.checks import assert_rows_match_files, flow_run
from tests.support.faults import (
    STALE_NOTICED_WITHIN,
    job_in_progress,
    print_recovery,
    watch_final,
)
from tests.support.system import System


def test_host_lost_mid_job_is_retried_automatically(
    system: System, workload_zip: tuple[str, set[str]], session_maker: sessionmaker[Session]
) -> None:
    zip_path, names = workload_zip
    job_id = job_in_progress(system, zip_path)
    first_run = system.job(job_id)["flow_run_id"]
    worker = system.pids()["prefect-worker"]
    [engine] = system.flow_run_processes()
    system.kill(worker)
    system.kill(engine)
    killed_at = time.monotonic()

    body = system.wait_job(job_id, lambda b: len(b["attempts"]) >= 2, 90, "not retried")
    took = time.monotonic() - killed_at
    assert took < STALE_NOTICED_WITHIN, f"the lost run was noticed only after {took:.1f} s"
    reason = body["attempts"][0]["reason"]
    assert "no heartbeat" in reason, body["attempts"]
    system.wait_run_state(first_run, "CRASHED")

    bodies, seen = watch_final(system, [job_id], timeout=180)
    print_recovery("host lost", killed_at)
    body = bodies[job_id]
    assert seen[job_id][-1] == "COMPLETED" and "FAILED" not in seen[job_id], seen
    assert_rows_match_files(session_maker, system.shared_root, job_id, names)
    assert len(body["attempts"]) == 2, body["attempts"]
    assert "auto-retry" in flow_run(system.prefect_api, body["flow_run_id"])["tags"]
