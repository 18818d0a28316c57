"""The Prefect server dies mid-job and the supervisor starts it again: the job completes and
no status is lost."""

import time

from sqlalchemy.orm import Session, sessionmaker

from deployments.processes import http_ok
from tests.support.checks import assert_rows_match_files
from tests.support.faults import job_in_progress, print_recovery
from tests.support.system import System


def test_prefect_server_restarted_mid_job(
    system: System, workload_zip: tuple[str, set[str]], session_maker: sessionmaker[Session]
) -> None:
    zip_path, names = workload_zip
    job_id = job_in_progress(system, zip_path)
    server = system.pids()["prefect-server"]
    system.kill(server)
    killed = time.monotonic()
    # Back means restarted *and* answering: the job's last calls to Prefect need it.
    system.wait_job(
        job_id,
        lambda _: (
            system.pids()["prefect-server"] != server and http_ok(f"{system.prefect_api}/health")
        ),
        90,
        "Prefect server not back",
    )

    body = system.wait_final(job_id)
    print_recovery("Prefect server killed", killed)
    assert body["job_status"] == "COMPLETED", body
    assert_rows_match_files(session_maker, system.shared_root, job_id, names)
    # The run's own end is its last step, just after the job's final status.
    system.wait_run_state(body["flow_run_id"], "COMPLETED")
