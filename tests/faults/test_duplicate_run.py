"""A second flow run of a finished job (a re-delivered or duplicated trigger with another key)
adds no rows, re-lints nothing that succeeded, and leaves the same final state."""

import os

from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy.orm import Session, sessionmaker

from flows.start import trigger_lint_job
from tests.support.checks import assert_rows_match_files
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries, make_zip
from tests.support.system import System


def test_duplicate_flow_run_changes_nothing(
    system: System, session_maker: sessionmaker[Session]
) -> None:
    entries = folder_entries(CORPUS / "tpch", "tpch")
    make_zip(system.shared_root / "archives/dup.zip", entries)
    job_id = system.submit({"zip_file_path": "archives/dup.zip"})

    def snapshot() -> dict[str, tuple[object, ...]]:
        """Each file's row identity, last row write and result file write."""
        rows = assert_rows_match_files(session_maker, system.shared_root, job_id, set(entries))
        return {
            name: (
                r.task_id,
                r.updated_at,
                os.stat(system.shared_root / str(r.result_file_path)).st_mtime_ns,
            )
            for name, r in rows.items()
        }

    first = system.wait_final(job_id)
    assert first["job_status"] == "COMPLETED"
    before = snapshot()

    # Another key: what a re-delivered trigger with a new idempotency key would create (through
    # the service's own trigger, which asks a Prefect server busy for a moment again).
    with temporary_settings({PREFECT_API_URL: system.prefect_api}):
        second = trigger_lint_job("lint-job/lint-job", job_id, attempt="again")
    assert second != first["flow_run_id"]
    system.wait_run_state(second, "COMPLETED", timeout=120)

    assert system.job(job_id)["job_status"] == "COMPLETED"
    after = snapshot()
    assert after == before
