"""What the fault tests share: a system tuned so faults show within seconds (a 1 s heartbeat,
stale after 10 s, reconciled every second, small batches, short file limits), its workload, and
a way to catch a job mid-way."""

from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries
from tests.support.system import System

FAULT_ENV = {
    "LINT_TIMEOUT_SECONDS": "8",
    "LINT_MAX_FILE_BYTES": "450000",
    "HEARTBEAT_SECONDS": "1",
    "STALE_AFTER_SECONDS": "10",
    "RECONCILE_INTERVAL_SECONDS": "1",
    "TRIGGER_RETRY_AFTER_SECONDS": "3",
    "BATCH_MAX_FILES": "10",
    "DB_RETRY_SECONDS": "120",
    # Every fault test lints the same workload: with the cache on, later ones would lint nothing.
    "RESULT_CACHE_ENABLED": "false",
}

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
