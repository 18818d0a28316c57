"""The power-cut scenario the fault tests share: a system cut mid-job with jobs queued behind
it (`cut_mid_job`), then, once it is started again, every job checked to complete by itself
(`assert_recovered`): COMPLETED without a FAILED seen on the way, each file one row with its
result file, the files done before the cut not linted again, the dead run's attempt kept and
the last run tagged `auto-retry`."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from tests.support.checks import assert_rows_match_files, flow_run
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries, make_zip
from tests.support.faults import (
    job_in_progress,
    job_status,
    power_cut,
    print_recovery,
    success_mtimes,
    watch_final,
    workload_entries,
)
from tests.support.system import System, running_system


@dataclass(frozen=True)
class Cut:
    running: str  # the job cut mid-way
    queued: list[str]  # accepted behind it
    names: dict[str, set[str]]  # each job's file names
    done_before: dict[str, int]  # the running job's SUCCESS files and their result mtimes
    killed: int  # processes


def cut_mid_job(
    database_url: str,
    sessions: sessionmaker[Session],
    data: Path,
    env: Mapping[str, str],
    big_files: int | None = None,
) -> Cut:
    """Start the system, submit a big job (the fault workload, or its first `big_files` files)
    and two small ones, and cut the power once the big one is 20 files in."""
    big = dict(sorted(workload_entries().items())[:big_files])
    small = folder_entries(CORPUS / "tpch", "tpch")
    with running_system(database_url, data, env) as system:
        make_zip(system.shared_root / "archives/big.zip", big)
        make_zip(system.shared_root / "archives/small.zip", small)
        running = job_in_progress(system, "archives/big.zip")
        queued = [system.submit({"zip_file_path": "archives/small.zip"}) for _ in range(2)]
        killed = power_cut(system)
        statuses = {j: job_status(sessions, j) for j in [running, *queued]}
    assert killed >= 6, killed
    assert statuses[running] == "PROCESSING", statuses
    done_before = success_mtimes(sessions, data / "shared", running)
    assert 0 < len(done_before) < len(big), len(done_before)
    names = {running: set(big), **{j: set(small) for j in queued}}
    return Cut(running, queued, names, done_before, killed)


def assert_recovered(
    system: System, sessions: sessionmaker[Session], cut: Cut, since: float, fault: str
) -> dict[str, Any]:
    """Every job of the cut COMPLETED by itself; prints and returns the figures (seconds from
    `since`, a monotonic time, to all COMPLETED; statuses seen; attempts' reasons)."""
    bodies, seen = watch_final(system, [cut.running, *cut.queued], timeout=300)
    took = print_recovery(fault, since, "every job COMPLETED")
    # A client waiting with --wait stops at the first final status: none may be FAILED on the
    # way, however briefly, while the job has attempts left.
    assert all("FAILED" not in statuses for statuses in seen.values()), seen
    for job_id, body in bodies.items():
        assert body["job_status"] == "COMPLETED", body
        assert_rows_match_files(sessions, system.shared_root, job_id, cut.names[job_id])
    after = success_mtimes(sessions, system.shared_root, cut.running)
    for name, mtime in cut.done_before.items():
        assert after[name] == mtime, f"{name} was linted again"

    attempts = bodies[cut.running]["attempts"]
    assert len(attempts) >= 2, attempts
    assert "no heartbeat" in attempts[0]["reason"], attempts
    assert attempts[-1]["reason"] is None and attempts[-1]["ended_at"], attempts
    last = flow_run(system.prefect_api, attempts[-1]["flow_run_id"])
    assert "auto-retry" in last["tags"], last["tags"]
    runs = httpx.post(
        f"{system.prefect_api}/flow_runs/filter",
        json={"flow_runs": {"name": {"any_": [cut.running]}}},
        timeout=30,
    ).json()
    assert len(runs) == len(attempts), [(r["id"], r["state_type"]) for r in runs]
    reasons = [a["reason"] for b in bodies.values() for a in b["attempts"] if a["reason"]]
    return {"took": took, "seen": seen, "reasons": reasons}
