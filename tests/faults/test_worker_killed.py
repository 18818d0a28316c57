"""SIGKILL a Dask worker mid-job: its batch is re-run elsewhere and the job completes."""

import time

from sqlalchemy.orm import Session, sessionmaker

from deployments.processes import wait_for
from tests.support.checks import assert_rows_match_files
from tests.support.faults import done_count, job_in_progress, print_recovery
from tests.support.system import FINAL, System


def test_dask_worker_killed_mid_job(
    system: System, workload_zip: tuple[str, set[str]], session_maker: sessionmaker[Session]
) -> None:
    zip_path, names = workload_zip
    job_id = job_in_progress(system, zip_path)
    workers = system.descendants("dask-worker", b"spawn_main")
    assert len(workers) == 2, workers
    system.kill(workers[0])
    killed = time.monotonic()

    body = system.wait_final(job_id)
    print_recovery("Dask worker killed", killed)
    assert body["job_status"] == "COMPLETED", body
    assert body["progress"]["SUCCESS"] == len(names)
    assert_rows_match_files(session_maker, system.shared_root, job_id, names)
    # the nanny brought the worker back
    system.wait_job(
        job_id,
        lambda _: len(system.descendants("dask-worker", b"spawn_main")) == 2,
        60,
        "worker not restarted",
    )


def test_lint_child_killed_mid_file(
    system: System, workload_zip: tuple[str, set[str]], session_maker: sessionmaker[Session]
) -> None:
    """SQLFluff's process dying under a file (a segfault, the OOM killer) costs that file only."""
    zip_path, names = workload_zip
    job_id = job_in_progress(system, zip_path)
    # A child killed between two files is replaced without failing one, so kill the children
    # again, once more files have finished, until a file in hand was hit (or the job ended).
    killed, first_kill = 0, time.monotonic()
    for _ in range(5):
        # A killed child is replaced when its thread sends the next file: wait for one.
        children = wait_for(
            lambda: system.descendants("dask-worker", b"linting.child_process"),
            60,
            lambda: f"no lint child running\n{system.logs()}",
            0.05,
        )
        for pid in children:
            system.kill(pid)
        killed += len(children)
        before = done_count(system.job(job_id))
        body = system.wait_job(
            job_id,
            lambda b, before=before: (
                b["job_status"] in FINAL or b["progress"]["FAILURE"] > 0 or done_count(b) > before
            ),
            120,
            "no progress after the lint children were killed",
        )
        if body["progress"]["FAILURE"] or body["job_status"] in FINAL:
            break

    body = system.wait_final(job_id)
    print_recovery("lint child killed", first_kill)
    rows = assert_rows_match_files(session_maker, system.shared_root, job_id, names)
    crashed = [r for r in rows.values() if r.status == "FAILURE"]
    assert crashed, "no file failed although its lint child was killed"
    assert len(crashed) <= killed, [r.error_message for r in crashed]
    assert {r.error_message for r in crashed} == {"SQLFluff process crashed (exit code -9)"}
    assert body["job_status"] == "PARTIALLY_COMPLETED"
