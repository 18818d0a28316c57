"""The reconciler reads unfinished jobs a page at a time (RECONCILE_PAGE_SIZE, 2 in the fault
tier): a job that needs it is reached even when earlier pages are full of jobs it can do
nothing for (queued behind a stopped runner)."""

import os
import signal

from sqlalchemy.orm import Session, sessionmaker

from db import queries
from deployments.processes import http_ok, wait_for
from tests.support.checks import assert_rows_match_files
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries, make_zip
from tests.support.faults import FAULT_ENV, watch_final
from tests.support.system import System


def _flow_run_id(sessions: sessionmaker[Session], job_id: str) -> str | None:
    with sessions() as s:
        job = queries.jobs.get_job(s, job_id)
        assert job is not None
        return job.flow_run_id


def test_a_job_past_the_first_page_is_reconciled(
    system: System, session_maker: sessionmaker[Session]
) -> None:
    page = int(FAULT_ENV["RECONCILE_PAGE_SIZE"])
    entries = folder_entries(CORPUS / "tpch", "tpch")
    make_zip(system.shared_root / "archives/pages.zip", entries)
    worker = system.pids()["prefect-worker"]
    # A stopped runner leaves these ACCEPTED with a scheduled run: quiet, in the worklist,
    # and nothing for the reconciler to do; more of them than a page, ahead of the last job.
    os.kill(worker, signal.SIGSTOP)
    try:
        queued = [system.submit({"zip_file_path": "archives/pages.zip"}) for _ in range(page + 1)]
        server = system.pids()["prefect-server"]
        system.kill(server)
        # Prefect down: the job is accepted without a flow run, for the reconciler to start.
        last = system.submit({"zip_file_path": "archives/pages.zip"})
        assert _flow_run_id(session_maker, last) is None, "Prefect answered the trigger"
        wait_for(
            lambda: (
                system.pids()["prefect-server"] != server
                and http_ok(f"{system.prefect_api}/health")
            ),
            90,
            lambda: f"Prefect server not back\n{system.logs()}",
            0.3,
        )
        wait_for(
            lambda: _flow_run_id(session_maker, last),
            60,
            lambda: f"the job past the first page was never triggered\n{system.logs()}",
            0.3,
        )
    finally:
        os.kill(worker, signal.SIGCONT)
    bodies, seen = watch_final(system, [*queued, last], timeout=180)
    for job_id, body in bodies.items():
        assert body["job_status"] == "COMPLETED", (body, seen[job_id])
        assert_rows_match_files(session_maker, system.shared_root, job_id, set(entries))
