"""SIGKILL the Dask scheduler (the `dask-scheduler` role) mid-job: the supervisor starts it again on
the same address (as systemd would); the Dask workers, which end when their scheduler is gone,
are started again and join it; the run's lost batches end its attempt and the job is re-run by
itself (or finishes in the same run if the task runner reconnects). It completes without a
FAILED status ever being seen."""

import time

from sqlalchemy.orm import Session, sessionmaker

from tests.support.checks import assert_rows_match_files
from tests.support.faults import job_in_progress, print_recovery, watch_final
from tests.support.system import System


def test_dask_scheduler_killed_mid_job(
    system: System, workload_zip: tuple[str, set[str]], session_maker: sessionmaker[Session]
) -> None:
    zip_path, names = workload_zip
    job_id = job_in_progress(system, zip_path)
    cluster = system.pids()["dask-scheduler"]
    system.kill(cluster)
    killed = time.monotonic()

    bodies, seen = watch_final(system, [job_id], timeout=240)
    print_recovery("Dask scheduler killed", killed)
    body = bodies[job_id]
    assert "FAILED" not in seen[job_id], seen
    assert body["job_status"] == "COMPLETED", (body, seen)
    assert body["progress"]["SUCCESS"] == len(names)
    assert_rows_match_files(session_maker, system.shared_root, job_id, names)
    assert system.pids()["dask-scheduler"] != cluster
    print(f"scheduler killed: {len(body['attempts'])} attempt(s)")  # noqa: T201
