"""What the fault tests share: a system tuned so faults show within seconds (a 1 s heartbeat,
stale after 10 s, reconciled every second, small batches, short file limits), its workload, and
a way to catch a job mid-way, and a power cut."""

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db import queries
from db.models import LintingTask, TaskStatus
from deployments.processes import wait_for
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries
from tests.support.system import FINAL, System, children, parent_pid

FAULT_ENV = {
    "LINT_TIMEOUT_SECONDS": "8",
    "LINT_MAX_FILE_BYTES": "450000",
    "HEARTBEAT_SECONDS": "1",
    "STALE_AFTER_SECONDS": "10",
    "RECONCILE_INTERVAL_SECONDS": "1",
    "TRIGGER_RETRY_AFTER_SECONDS": "3",
    "BATCH_MAX_FILES": "10",
    "DB_RETRY_SECONDS": "120",
    "JOB_RETRY_BACKOFF_SECONDS": "1",
    # Every pass pages: a few jobs already fill a page (tests/faults/test_reconcile_pages.py).
    "RECONCILE_PAGE_SIZE": "2",
    # Callbacks to a receiver on this host, one try of at most 10 s: a claim is stale after 11 s.
    "CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "CALLBACK_ATTEMPTS": "1",
    "CALLBACK_TIMEOUT_SECONDS": "10",
    # Every fault test lints the same workload: with the cache on, later ones would lint nothing.
    "RESULT_CACHE_ENABLED": "false",
}

# A run that stopped reporting is noticed after STALE_AFTER_SECONDS, by the next reconcile
# pass or the one after, with a few seconds for a busy machine.
STALE_NOTICED_WITHIN = (
    float(FAULT_ENV["STALE_AFTER_SECONDS"]) + 2 * float(FAULT_ENV["RECONCILE_INTERVAL_SECONDS"]) + 5
)

WORKLOAD = CORPUS / "mixed/postgres"  # 179 real files: ~10-15 s of linting on 2 cores
# Files that could pass the 8 s time limit on a busy machine are left out of the fault
# workloads, whose point is the fault, not the limit (tested on its own in test_bad_input).
WORKLOAD_MAX_BYTES = 30_000


def workload_entries() -> dict[str, bytes]:
    return {
        name: data
        for name, data in folder_entries(WORKLOAD, "pg").items()
        if len(data) <= WORKLOAD_MAX_BYTES
    }


def done_count(body: dict[str, object]) -> int:
    progress = body["progress"]
    assert isinstance(progress, dict)
    return int(progress["SUCCESS"]) + int(progress["FAILURE"])


def job_in_progress(system: System, zip_path: str) -> str:
    """Submit the workload and return once 20 of its files are done: mid-job, for a fault."""
    job_id = system.submit({"zip_file_path": zip_path, "dialect": "postgres"})
    system.wait_job(job_id, lambda b: done_count(b) >= 20, 120, "no progress")
    return job_id


def process_tree(root: int) -> list[int]:
    """`root` and every process below it."""
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack += children(pid)
    return tree


def supervisor_pid(system: System) -> int:
    """The `deployments.up` process: the parent of every role."""
    return parent_pid(system.pids()["api"])


def power_cut(system: System) -> int:
    """Every process of the system at once, the supervisor included: frozen (SIGSTOP) so none
    can react to another's death (the roles' parent-death SIGTERM, a runner's orderly
    shutdown), then SIGKILLed. Returns how many processes died."""
    tree = process_tree(supervisor_pid(system))
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    return len(tree)


def watch_final(
    system: System, job_ids: list[str], timeout: float
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Poll GET /jobs/{id} of every job until all are final, as a CI client waiting with
    `--wait` would; returns their final bodies and each one's statuses as seen, in order
    (repeats collapsed), so a test can show no FAILED was ever seen on the way."""
    seen: dict[str, list[str]] = {j: [] for j in job_ids}
    bodies: dict[str, dict[str, Any]] = {}

    def probe() -> dict[str, dict[str, Any]] | None:
        for job_id in job_ids:
            try:
                body = system.job(job_id)
            except (httpx.HTTPError, AssertionError):
                continue  # the API may be starting
            if not seen[job_id] or seen[job_id][-1] != body["job_status"]:
                seen[job_id].append(body["job_status"])
            bodies[job_id] = body
        done = len(bodies) == len(job_ids)
        return bodies if done and all(b["job_status"] in FINAL for b in bodies.values()) else None

    wait_for(probe, timeout, lambda: f"jobs not final: {seen}\n{system.logs()}", 0.3)
    return bodies, seen


def success_mtimes(sessions: sessionmaker[Session], root: Path, job_id: str) -> dict[str, int]:
    """Each SUCCESS file's result mtime: a file linted again gets a new one."""
    with sessions() as s:
        return {
            row.file_name: os.stat(root / str(row.result_file_path)).st_mtime_ns
            for row in s.scalars(select(LintingTask).where(LintingTask.job_id == job_id))
            if row.status == TaskStatus.SUCCESS
        }


def job_status(sessions: sessionmaker[Session], job_id: str) -> str:
    with sessions() as s:
        job = queries.jobs.get_job(s, job_id)
        assert job is not None
        return job.status.value


def print_recovery(fault: str, since: float, what: str = "the job final") -> float:
    """Print the figure the README's Faults table quotes: seconds from the fault (`since`, a
    monotonic time) until `what`, as a client polling saw it. Returns it."""
    took = time.monotonic() - since
    print(f"\nRECOVERY {fault}: {what} {took:.1f} s after the fault")  # noqa: T201
    return took
