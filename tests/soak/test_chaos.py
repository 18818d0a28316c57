"""A bounded chaos soak: several clients submit jobs of mixed sizes (each waits for its last
job, like a CI pipeline) for SOAK_SECONDS while a driver kills a random role at random moments
(a Dask worker, a lint child, a flow-run process, the serve process, the Prefect server, the
API, MariaDB: killed, then started again after a short random outage). The system runs on a
private `mariadbd` the test owns (tests/support/mariadb.py), never the machine's shared one.
Then every job, those whose answer was lost to a killed API included, must end COMPLETED by
itself (a file whose lint child was killed under it is FAILURE, as a crashing file is, and
nothing else may be), every file with exactly one row matching its result file, and no job
with more flow runs than attempts recorded. Prints the figures: jobs, kills per role, retries,
time to consistency."""

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_sessionmaker
from db.models import LintingJob, LintingTask, TaskStatus, utcnow
from deployments.processes import wait_for
from tests.support.checks import assert_rows_match_files
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries, make_zip
from tests.support.faults import FAULT_ENV, workload_entries
from tests.support.mariadb import MARIADBD, PrivateMariaDB, private_mariadb
from tests.support.system import FINAL, System, running_system

SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))
CLIENTS = 3
INLINE = "select a, b from t where a = 1\n"


def _victims(system: System, server: PrivateMariaDB) -> dict[str, Callable[[], list[int]]]:
    """Each role the driver may kill, and how to find its processes right now."""
    return {
        "dask worker": lambda: system.descendants("dask-worker", b"spawn_main"),
        "lint child": lambda: system.descendants("dask-worker", b"linting.child_process"),
        "flow-run process": system.flow_run_processes,
        "prefect-worker": lambda: [system.pids()["prefect-worker"]],
        "prefect server": lambda: [system.pids()["prefect-server"]],
        "api": system.api_workers,
        "mariadb": lambda: [server.proc.pid] if server.proc else [],
    }


def _kill_mariadb(server: PrivateMariaDB, rng: random.Random, stop: threading.Event) -> None:
    """A crash of the database: SIGKILL, down for 1-8 s (the outage itself), started again."""
    server.kill()
    stop.wait(rng.uniform(1, 8))
    server.start()


def _client(
    system: System, archives: list[tuple[str, set[str]]], stop: threading.Event, seed: int
) -> tuple[list[tuple[str, set[str]]], int]:
    """Submit jobs until `stop`, each once the last is final, as a CI pipeline waiting with
    `--wait` does (so the stream stays within what 2 cores lint); returns the jobs accepted
    (id, file names) and the refusals (the API or Prefect down at that moment)."""
    rng = random.Random(seed)
    accepted: list[tuple[str, set[str]]] = []
    refused = 0
    while not stop.is_set():
        # Mostly small jobs, now and then the big one.
        path, names = rng.choice([*archives[:1] * 3, *archives[1:], ("", {"input.sql"})])
        body = {"zip_file_path": path} if path else {"sql_content": INLINE}
        try:
            response = httpx.post(f"{system.api}/jobs", json=body, timeout=30)
        except httpx.HTTPError:
            refused += 1
        else:
            if response.status_code == 202:
                accepted.append((response.json()["job_id"], names))
            else:
                refused += 1
        while accepted and not stop.is_set() and _status(system, accepted[-1][0]) not in FINAL:
            stop.wait(1)
        stop.wait(rng.uniform(0.2, 2))
    return accepted, refused


@pytest.mark.timeout(SECONDS + 900)
def test_chaos_soak(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert Path(MARIADBD).is_file(), f"the soak kills MariaDB: install it ({MARIADBD} missing)"
    seed = int(os.environ.get("SOAK_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    data = tmp_path_factory.mktemp("soak")
    with private_mariadb(data / "mariadb") as server:
        server.create_database("sqlfluff_soak")
        engine = make_engine(server.url("sqlfluff_soak"))
        try:
            _soak(server, make_sessionmaker(engine), data / "system", seed, rng)
        finally:
            engine.dispose()


def _soak(
    server: PrivateMariaDB,
    session_maker: sessionmaker[Session],
    data: Path,
    seed: int,
    rng: random.Random,
) -> None:
    started = utcnow() - timedelta(seconds=1)
    # Kills land every few seconds, so one long job may lose several runs: more attempts than
    # the default, or the soak would measure JOB_MAX_ATTEMPTS rather than recovery. Nor the
    # time limit: on a busy 2-core machine a workload file passed the fault tests' 8 s (a FAILURE
    # the soak would count against recovery); the limit has its own test (test_bad_input).
    env = {**FAULT_ENV, "JOB_MAX_ATTEMPTS": "10", "LINT_TIMEOUT_SECONDS": "60"}
    with running_system(server.url("sqlfluff_soak"), data, env) as system:
        archives = _archives(system.shared_root)
        stop = threading.Event()
        results: list[tuple[list[tuple[str, set[str]]], int]] = []
        clients = [
            threading.Thread(
                target=lambda s=seed + i: results.append(_client(system, archives, stop, s))
            )
            for i in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        kills: Counter[str] = Counter()
        victims = _victims(system, server)
        deadline = time.monotonic() + SECONDS
        try:
            while not stop.wait(rng.uniform(5, 12)) and time.monotonic() < deadline:
                role = rng.choice(sorted(victims))
                try:
                    pids = victims[role]()
                except (OSError, KeyError, ValueError):
                    continue  # the role is restarting
                if role == "mariadb" and pids:
                    _kill_mariadb(server, rng, stop)
                    kills[role] += 1
                elif pids:
                    system.kill(rng.choice(pids))
                    kills[role] += 1
        finally:
            stop.set()
            for thread in clients:
                thread.join(60)
        last_kill = time.monotonic()
        jobs = {job_id: names for accepted, _ in results for job_id, names in accepted}
        refused = sum(r for _, r in results)
        every = _all_jobs(session_maker, started)  # answers lost to a killed API included
        wait_for(
            lambda: all(_status(system, j) in FINAL for j in every),
            600,
            lambda: (
                f"jobs not final: {[j for j in every if _status(system, j) not in FINAL]}"
                f"\n{system.logs()}"
            ),
            1,
        )
        consistent_after = time.monotonic() - last_kill
        retries = crashed_files = 0
        for job_id in every:
            body = system.job(job_id)
            lost = _files_lost_to_lint_child_kills(session_maker, job_id, kills)
            assert body["job_status"] == "COMPLETED" or lost, body
            crashed_files += lost
            retries += len(body["attempts"]) - 1
            if job_id in jobs:
                assert_rows_match_files(session_maker, system.shared_root, job_id, jobs[job_id])
            runs = httpx.post(
                f"{system.prefect_api}/flow_runs/filter",
                json={"flow_runs": {"name": {"any_": [job_id]}}},
                timeout=30,
            ).json()
            assert len(runs) <= len(body["attempts"]), (job_id, runs, body["attempts"])
    print(  # noqa: T201
        f"\nsoak (seed {seed}, {SECONDS:g} s): {len(every)} jobs ({len(jobs)} answered, "
        f"{refused} refused), kills {dict(kills)}, {retries} automatic retries, "
        f"{crashed_files} files FAILURE under a killed lint child, "
        f"consistent {consistent_after:.1f} s after the last kill"
    )


def _archives(root: Path) -> list[tuple[str, set[str]]]:
    small, big = folder_entries(CORPUS / "tpch", "tpch"), workload_entries()
    make_zip(root / "archives/small.zip", small)
    make_zip(root / "archives/big.zip", big)
    return [("archives/small.zip", set(small)), ("archives/big.zip", set(big))]


def _files_lost_to_lint_child_kills(
    sessions: sessionmaker[Session], job_id: str, kills: Counter[str]
) -> int:
    """A file whose SQLFluff process dies under it is FAILURE (a crash or the OOM killer on
    that file: tests/faults/test_worker_killed.py), so the only FAILURE allowed is that one,
    and only if the driver killed lint children. Returns how many there are."""
    with sessions() as s:
        reasons = list(
            s.scalars(
                select(LintingTask.error_message).where(
                    LintingTask.job_id == job_id, LintingTask.status == TaskStatus.FAILURE
                )
            )
        )
    for reason in reasons:
        assert kills["lint child"] and str(reason).startswith("SQLFluff process crashed"), (
            job_id,
            reason,
        )
    return len(reasons)


def _all_jobs(sessions: sessionmaker[Session], since: datetime) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(LintingJob.job_id).where(LintingJob.created_at >= since)))


def _status(system: System, job_id: str) -> str:
    try:
        return str(system.job(job_id)["job_status"])
    except (httpx.HTTPError, AssertionError):
        return "unknown"
