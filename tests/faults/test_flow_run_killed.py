"""SIGKILL the flow-run process mid-job: its runner reports it Crashed, the crash hook ends the
attempt, and the job is re-run by itself (a new flow run tagged `auto-retry`) that lints only
what did not succeed; the job ends COMPLETED with no one retrying it."""

import os
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import LintingTask, TaskStatus
from tests.support.checks import assert_rows_match_files, flow_run
from tests.support.faults import job_in_progress, print_recovery, watch_final
from tests.support.system import System


def test_flow_run_killed_is_retried_automatically(
    system: System, workload_zip: tuple[str, set[str]], session_maker: sessionmaker[Session]
) -> None:
    zip_path, names = workload_zip
    job_id = job_in_progress(system, zip_path)
    first_run = system.job(job_id)["flow_run_id"]
    [engine] = system.flow_run_processes()
    system.kill(engine)
    killed = time.monotonic()
    # What succeeded by now is never linted again (a retry lints the files not SUCCESS).
    with session_maker() as s:
        before = {
            row.file_name: os.stat(system.shared_root / str(row.result_file_path)).st_mtime_ns
            for row in s.scalars(select(LintingTask).where(LintingTask.job_id == job_id))
            if row.status == TaskStatus.SUCCESS
        }
    assert 0 < len(before) < len(names), len(before)

    bodies, seen = watch_final(system, [job_id], timeout=180)
    print_recovery("flow-run process killed", killed)
    body = bodies[job_id]
    assert seen[job_id][-1] == "COMPLETED" and "FAILED" not in seen[job_id], seen
    rows_by_name = assert_rows_match_files(session_maker, system.shared_root, job_id, names)
    for name, mtime in before.items():
        path = system.shared_root / str(rows_by_name[name].result_file_path)
        assert os.stat(path).st_mtime_ns == mtime, f"{name} was linted again"
    system.wait_run_state(first_run, "CRASHED")
    [first, second] = body["attempts"]
    assert first["flow_run_id"] == first_run and "CRASHED" in first["reason"], first
    assert second["reason"] is None and body["flow_run_id"] == second["flow_run_id"] != first_run
    assert "auto-retry" in flow_run(system.prefect_api, second["flow_run_id"])["tags"]
