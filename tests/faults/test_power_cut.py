"""A power cut: every process of the system (the supervisor included) killed at once mid-job,
then the system started again on the same database and shared root. Every accepted job
(PROCESSING, or ACCEPTED and not yet run) completes by itself: the dead run is found by its
stopped heartbeat, set Crashed, and the job re-run as a new flow run tagged `auto-retry` that
lints only the files not yet SUCCESS; each file has exactly one row and its result file."""

import os
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db import queries
from db.models import LintingTask, TaskStatus
from tests.support.checks import assert_rows_match_files, flow_run
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries, make_zip
from tests.support.faults import (
    FAULT_ENV,
    job_in_progress,
    power_cut,
    watch_final,
    workload_entries,
)
from tests.support.system import running_system


def _success_mtimes(sessions: sessionmaker[Session], root: Path, job_id: str) -> dict[str, int]:
    with sessions() as s:
        return {
            row.file_name: os.stat(root / str(row.result_file_path)).st_mtime_ns
            for row in s.scalars(select(LintingTask).where(LintingTask.job_id == job_id))
            if row.status == TaskStatus.SUCCESS
        }


def _status(sessions: sessionmaker[Session], job_id: str) -> str:
    with sessions() as s:
        job = queries.jobs.get_job(s, job_id)
        assert job is not None
        return job.status.value


@pytest.mark.timeout(600)
def test_power_cut_mid_job(
    database_url: str,
    session_maker: sessionmaker[Session],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = tmp_path_factory.mktemp("power-cut")
    big, small = workload_entries(), folder_entries(CORPUS / "tpch", "tpch")
    with running_system(database_url, data, FAULT_ENV) as system:
        make_zip(system.shared_root / "archives/big.zip", big)
        make_zip(system.shared_root / "archives/small.zip", small)
        running = job_in_progress(system, "archives/big.zip")
        queued = [system.submit({"zip_file_path": "archives/small.zip"}) for _ in range(2)]
        killed = power_cut(system)
        statuses = {j: _status(session_maker, j) for j in [running, *queued]}
    assert killed >= 6, killed
    assert statuses[running] == "PROCESSING", statuses
    done_before = _success_mtimes(session_maker, data / "shared", running)
    assert 0 < len(done_before) < len(big), len(done_before)

    restarted = time.monotonic()
    with running_system(database_url, data, FAULT_ENV) as system:
        bodies, seen = watch_final(system, [running, *queued], timeout=300)
        took = time.monotonic() - restarted
        # A client waiting with --wait stops at the first final status: none may be FAILED
        # on the way, however briefly, while the job has attempts left.
        assert all("FAILED" not in statuses for statuses in seen.values()), seen
        for job_id, body in bodies.items():
            assert body["job_status"] == "COMPLETED", body
            names = set(big) if job_id == running else set(small)
            assert_rows_match_files(session_maker, system.shared_root, job_id, names)
        after = _success_mtimes(session_maker, system.shared_root, running)
        for name, mtime in done_before.items():
            assert after[name] == mtime, f"{name} was linted again"

        attempts = bodies[running]["attempts"]
        assert len(attempts) >= 2, attempts
        assert "no heartbeat" in attempts[0]["reason"], attempts
        assert attempts[-1]["reason"] is None and attempts[-1]["ended_at"], attempts
        last = flow_run(system.prefect_api, attempts[-1]["flow_run_id"])
        assert "auto-retry" in last["tags"], last["tags"]
        runs = httpx.post(
            f"{system.prefect_api}/flow_runs/filter",
            json={"flow_runs": {"name": {"any_": [running]}}},
            timeout=30,
        ).json()
        assert len(runs) == len(attempts), [(r["id"], r["state_type"]) for r in runs]
    reasons = [a["reason"] for b in bodies.values() for a in b["attempts"] if a["reason"]]
    print(  # noqa: T201
        f"power cut: {killed} processes killed; jobs COMPLETED {took:.1f} s after restart; "
        f"statuses seen {seen}; attempts ended: {reasons}"
    )
