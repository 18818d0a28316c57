"""A flow-run process that dies after Prefect marked its run Running but before the flow took
its job leaves the job ACCEPTED under a RUNNING run that nothing will move (the chaos soak
left one such job). The reconciler sees no sign of life past STALE_AFTER_SECONDS, crashes the
run and retries the job, which ends COMPLETED on its second attempt.

The state is made as that death leaves it: the worker is stopped so it cannot take the run,
the run is put Running through Prefect's API (what the process did before it died), and the
worker is let go again; it only takes Scheduled runs, so this run has no process."""

import os
import signal
import time

from sqlalchemy.orm import Session, sessionmaker

from tests.support.checks import assert_rows_match_files, flow_run, force_flow_run_state
from tests.support.factories import make_zip
from tests.support.faults import FAULT_ENV, STALE_NOTICED_WITHIN, watch_final
from tests.support.system import System


def test_run_whose_process_died_before_the_flow_started_is_retried(
    system: System, session_maker: sessionmaker[Session]
) -> None:
    entries = {"a.sql": b"select 1 from t\n", "b/c.sql": b"SELECT a , b FROM t2\n"}
    make_zip(system.shared_root / "archives/died_before_start.zip", entries)
    worker = system.pids()["prefect-worker"]
    os.kill(worker, signal.SIGSTOP)
    try:
        job_id = system.submit({"zip_file_path": "archives/died_before_start.zip"})
        body = system.wait_job(job_id, lambda b: b["flow_run_id"], 60, "never triggered")
        first_run = body["flow_run_id"]
        force_flow_run_state(system.prefect_api, first_run, {"type": "RUNNING", "name": "Running"})
        orphaned_at = time.monotonic()
    finally:
        os.kill(worker, signal.SIGCONT)
    assert system.job(job_id)["job_status"] == "ACCEPTED"

    body = system.wait_job(job_id, lambda b: len(b["attempts"]) >= 2, 90, "not retried")
    took = time.monotonic() - orphaned_at
    stale = float(FAULT_ENV["STALE_AFTER_SECONDS"])
    assert stale - 1 < took < STALE_NOTICED_WITHIN, (
        f"the orphaned run was crashed after {took:.1f} s"
    )
    reason = body["attempts"][0]["reason"]
    assert "stopped reporting" in reason, body["attempts"]
    system.wait_run_state(first_run, "CRASHED")

    bodies, seen = watch_final(system, [job_id], timeout=120)
    assert seen[job_id][-1] == "COMPLETED" and "FAILED" not in seen[job_id], seen
    assert_rows_match_files(session_maker, system.shared_root, job_id, set(entries))
    assert len(bodies[job_id]["attempts"]) == 2, bodies[job_id]["attempts"]
    assert "auto-retry" in flow_run(system.prefect_api, bodies[job_id]["flow_run_id"])["tags"]
