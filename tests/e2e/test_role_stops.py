"""A worker host stopped as `make up` and the tests stop a role (SIGINT to the process group of
its start script, deployments/processes.py) closes its Dask worker processes through their
nanny: each says it closed, none is killed after the nanny's timeout."""

import os
import sys
from pathlib import Path

from deployments.processes import free_port, start, stop, tail, wait_for
from deployments.up import registered, scheduler_address
from tests.support.databases import REPO_ROOT

KIT = REPO_ROOT / "deployments" / "bin"


def test_a_worker_hosts_processes_close_through_their_nanny(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DASK_"))}
    env.update(
        DATA_DIR=str(tmp_path),
        NFS_SHARE_ROOT_PATH=str(tmp_path / "shared"),
        SQLFLUFF_SERVICE_VENV=str(Path(sys.executable).parent.parent),
        SQLFLUFF_SERVICE_ENV=str(tmp_path / "no-env-file"),
        DASK_SCHEDULER_HOST="127.0.0.1",
        DASK_SCHEDULER_PORT=str(free_port()),
        DASK_DASHBOARD_ADDRESS="127.0.0.1:0",
    )
    scheduler_log, worker_log = tmp_path / "scheduler.log", tmp_path / "worker.log"
    scheduler = start([str(KIT / "dask-scheduler.sh")], env, scheduler_log)
    try:
        address = wait_for(
            lambda: scheduler_address(scheduler_log.read_text(errors="replace")),
            60,
            lambda: f"no scheduler address:\n{tail(scheduler_log)}",
        )
        env.update(
            DASK_SCHEDULER_ADDRESS=address, DASK_WORKER_HOST="127.0.0.1", DASK_WORKERS_PER_HOST="2"
        )
        worker = start([str(KIT / "dask-worker.sh")], env, worker_log)
        try:
            wait_for(
                lambda: registered(2)(worker_log.read_text(errors="replace")),
                120,
                lambda: f"workers not registered:\n{tail(worker_log)}",
            )
            # Each worker's warm-up lint (flows/worker_preload.py) has written its result: the
            # worker is idle, as a host is when it is stopped.
            wait_for(
                lambda: len(list((tmp_path / "shared/tmp").glob("warm-up-*.sql.json"))) == 2,
                120,
                lambda: f"lint children not warmed up:\n{tail(worker_log)}",
            )
        finally:
            stop(worker, grace=30)
        text = worker_log.read_text(errors="replace")
        assert worker.returncode is not None
        assert text.count("Worker closed") == 2, tail(worker_log, 60)
        assert "still alive after" not in text, tail(worker_log, 60)
        assert "killed by signal" not in text, tail(worker_log, 60)
    finally:
        stop(scheduler)
