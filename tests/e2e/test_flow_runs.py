"""How flow runs start and size their work: each job's run is picked up when Prefect schedules
it (not at the worker's next poll) and runs in a process forked from the Prefect worker's warm
fork server (no new interpreter), and batches are cut for the workers the Dask cluster has, not
for this host's cores."""

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from distributed import LocalCluster
from prefect import flow
from prefect_dask import DaskTaskRunner

from core.settings import Settings
from deployments.worker import worker_name
from flows.runner import worker_threads
from tests.api.test_deploy_kit import yaml_deployments
from tests.e2e.test_operations import json_lines
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries, make_zip
from tests.support.system import System, parent_pid, running_system

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

POLL_SECONDS = 60


@pytest.fixture(scope="module")
def system(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    # A poll far longer than any wait here: every run of this module is picked up by its event.
    # One run at a time: a second job's run waits for the first's slot.
    env = {
        "FLOW_RUN_WARM_START": "true",
        "FLOW_RUN_POLL_SECONDS": str(POLL_SECONDS),
        "FLOW_RUN_LIMIT": "1",
    }
    with running_system(database_url, tmp_path_factory.mktemp("warm"), env) as running:
        yield running


def flow_run_lines(system: System, job_id: str) -> list[str]:
    return [
        str(e["msg"])
        for e in json_lines(system.data / "logs" / "prefect-worker.log")
        if e.get("job_id") == job_id and "flow-run process" in str(e.get("msg"))
    ]


def test_each_job_runs_in_its_own_process_forked_warm(system: System) -> None:
    runs = []
    for n in range(2):
        job_id = system.submit({"sql_content": f"select {n} from t\n", "dialect": "ansi"})
        assert system.wait_final(job_id)["job_status"] == "COMPLETED"
        [line] = flow_run_lines(system, job_id)
        assert "forked from the warm server" in line, line
        pid, parent = line.split("flow-run process ")[1].split(",")[0].split(" of ")
        runs.append((int(pid), int(parent)))
    # One process per run (a crash takes down only its own run), both forked by the one fork
    # server, which is the worker's child and outlives the runs.
    (first, server), (second, same_server) = runs
    assert first != second and server == same_server
    assert parent_pid(server) == system.pids()["prefect-worker"]
    assert b"multiprocessing.forkserver" in Path(f"/proc/{server}/cmdline").read_bytes()


def log_time(system: System, log: str, needle: str) -> datetime:
    [when] = [
        datetime.fromisoformat(str(e["ts"]))
        for e in json_lines(system.data / "logs" / log)
        if needle in str(e.get("msg"))
    ]
    return when


def test_a_new_run_is_picked_up_when_scheduled_not_at_the_next_poll(system: System) -> None:
    # Three in a row: a poll that happened to fall just after one trigger cannot pass them all.
    for n in range(3):
        job_id = system.submit({"sql_content": f"select {n} from t\n"})
        job = system.wait_final(job_id, timeout=POLL_SECONDS / 2)
        assert job["job_status"] == "COMPLETED", job
        run_id = job["flow_run_id"]
        submitted = log_time(system, "prefect-worker.log", f"submitting flow run '{run_id}'")
        run = httpx.get(f"{system.prefect_api}/flow_runs/{run_id}", timeout=30).json()
        created = datetime.fromisoformat(run["created"])
        waited = (submitted - created).total_seconds()
        assert waited < 5, f"run {run_id} waited {waited:.1f} s for the worker (poll: 60 s)"


def test_a_run_held_back_by_the_limit_starts_when_the_slot_frees(system: System) -> None:
    first = system.submit({"sql_content": "select a from t1\n"})
    second = system.submit({"sql_content": "select b from t2\n"})
    runs = []
    for job_id in (first, second):
        job = system.wait_final(job_id, timeout=POLL_SECONDS / 2)
        assert job["job_status"] == "COMPLETED", job
        runs.append(httpx.get(f"{system.prefect_api}/flow_runs/{job['flow_run_id']}").json())
    ended = datetime.fromisoformat(runs[0]["end_time"])
    taken = log_time(system, "prefect-worker.log", f"submitting flow run '{runs[1]['id']}'")
    # Taken after the first ended (the limit held it back), and at once, not at the next poll.
    assert 0 <= (taken - ended).total_seconds() < 5, (ended, taken)


def test_runs_come_from_prefect_yaml_through_the_work_pool(system: System) -> None:
    """`make up` runs production's path: prefect.yaml's deployment on the work pool, its run
    started by the pool's worker (deployments/worker.py), not a served flow."""
    [lint_job] = [d for d in yaml_deployments() if d["name"] == "lint-job"]
    deployment = httpx.get(f"{system.prefect_api}/deployments/name/lint-job/lint-job").json()
    pool = Settings().PREFECT_WORK_POOL
    assert (deployment["entrypoint"], deployment["work_pool_name"]) == (
        lint_job["entrypoint"],
        pool,
    )
    job_id = system.submit({"sql_content": "select 1 from t\n", "dialect": "ansi"})
    assert system.wait_final(job_id)["job_status"] == "COMPLETED"
    [run] = httpx.post(
        f"{system.prefect_api}/flow_runs/filter",
        json={"flow_runs": {"name": {"any_": [job_id]}}},
        timeout=30,
    ).json()
    assert (run["work_pool_name"], run["deployment_id"]) == (pool, deployment["id"])
    workers = httpx.post(f"{system.prefect_api}/work_pools/{pool}/workers/filter", json={})
    assert worker_name(system.pids()["prefect-worker"]) in {w["name"] for w in workers.json()}


def test_an_unchanged_archive_relinted_is_served_from_the_cache_without_batches(
    system: System,
) -> None:
    """The second job of the same archive finishes its cached files in the flow run itself: no
    `lint-batch` task run, the same findings, each file's own result file."""
    entries = folder_entries(CORPUS / "tpch", "tpch")
    make_zip(system.shared_root / "archives/again.zip", entries)
    jobs = [system.submit({"zip_file_path": "archives/again.zip"})]
    assert system.wait_final(jobs[0])["job_status"] == "COMPLETED"
    jobs.append(system.submit({"zip_file_path": "archives/again.zip"}))
    assert system.wait_final(jobs[1])["job_status"] == "COMPLETED"
    batches, connected = [], []
    for job_id in jobs:
        [run] = httpx.post(
            f"{system.prefect_api}/flow_runs/filter",
            json={"flow_runs": {"name": {"any_": [job_id]}}},
            timeout=30,
        ).json()
        task_runs = httpx.post(
            f"{system.prefect_api}/task_runs/filter",
            json={"flow_runs": {"id": {"any_": [run["id"]]}}},
            timeout=30,
        ).json()
        batches.append([t for t in task_runs if t["name"].startswith("lint ")])
        connected.append(
            any(
                e.get("flow_run_id") == run["id"] and "Connecting to" in str(e.get("msg"))
                for e in json_lines(system.data / "logs" / "prefect-worker.log")
            )
        )
    assert batches[0] and not batches[1], "the cached job still sent batches to Dask"
    # With nothing to lint, the run does not even connect to the cluster.
    assert connected == [True, False], connected
    findings = [
        sorted(
            (v["file_name"], v["rule_code"], v["start_line"], v["start_pos"])
            for v in httpx.get(
                f"{system.api}/jobs/{job_id}/violations", params={"size": 1000}, timeout=30
            ).json()["items"]
        )
        for job_id in jobs
    ]
    assert findings[0] and findings[0] == findings[1]
    first, second = (system.job(job_id, size=100)["sub_tasks"]["items"] for job_id in jobs)
    assert {t["file_name"] for t in second} == set(entries)
    assert not {t["result_file_path"] for t in first} & {t["result_file_path"] for t in second}


@flow
def count_workers() -> int:
    return worker_threads()


def test_batches_are_sized_for_the_clusters_workers(
    prefect_api: str, caplog: pytest.LogCaptureFixture
) -> None:
    more = (os.cpu_count() or 1) + 3
    with LocalCluster(
        n_workers=more, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        runner = DaskTaskRunner(address=cluster.scheduler_address)
        assert count_workers.with_options(task_runner=runner)() == more
        # A worker added later is counted by the next job.
        cluster.scale(more + 1)
        cluster.wait_for_workers(more + 1, timeout=60)
        assert count_workers.with_options(task_runner=runner)() == more + 1
    assert "cannot count Dask workers" not in caplog.text


def test_without_a_task_runner_of_dask_the_hosts_cores_are_assumed(prefect_api: str) -> None:
    assert count_workers() == (os.cpu_count() or 1)
