"""The shared directory fills up mid-job (ENOSPC, made real with a 48 KiB tmpfs mounted over the
job's results folder: room for a few result files): the files whose result could not be
written are FAILURE with the reason, never SUCCESS with half a file; the results written are
whole; no temp file is left. Once there is room again, a retry lints only the failed files and
the job COMPLETES."""

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from db.models import TaskStatus
from tests.support.checks import assert_rows_match_files
from tests.support.corpus import CORPUS
from tests.support.factories import folder_entries, make_zip
from tests.support.faults import print_recovery
from tests.support.system import System


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    done = subprocess.run(mount, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"this test needs root and tmpfs: {done.stderr}"
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_shared_dir_full_fails_files_with_the_reason(
    system: System, session_maker: sessionmaker[Session]
) -> None:
    entries = folder_entries(CORPUS / "tpch", "tpch")
    make_zip(system.shared_root / "archives/full.zip", entries)
    worker = system.pids()["prefect-worker"]
    # Hold the runner so the run cannot start before the disk is "full".
    os.kill(worker, signal.SIGSTOP)
    try:
        job_id = system.submit({"zip_file_path": "archives/full.zip"})
        results = system.shared_root / f"jobs/{job_id}/results"
        with small_tmpfs(results, "48k"):
            os.kill(worker, signal.SIGCONT)
            body = system.wait_final(job_id)
            _check_full(session_maker, system, job_id, set(entries), body)
            # Room again: a retry re-lints only the failed files.
            remount = ["mount", "-o", "remount,size=8m", str(results)]
            subprocess.run(remount, check=True)
            rows = assert_rows_match_files(session_maker, system.shared_root, job_id, set(entries))
            retried = time.monotonic()
            response = httpx.post(f"{system.api}/jobs/{job_id}/retry", timeout=30)
            assert response.status_code == 202, response.text
            body = system.wait_final(job_id)
            print_recovery("shared directory full, timed from the retry", retried, "COMPLETED")
            assert body["job_status"] == "COMPLETED", body
            again = assert_rows_match_files(session_maker, system.shared_root, job_id, set(entries))
            assert {n: r.task_id for n, r in again.items()} == {
                n: r.task_id for n, r in rows.items()
            }
    finally:
        os.kill(worker, signal.SIGCONT)


def _check_full(
    session_maker: sessionmaker[Session],
    system: System,
    job_id: str,
    names: set[str],
    body: dict[str, object],
) -> None:
    assert body["job_status"] == "PARTIALLY_COMPLETED", body
    rows = assert_rows_match_files(session_maker, system.shared_root, job_id, names)
    failed = [r for r in rows.values() if r.status == TaskStatus.FAILURE]
    succeeded = [r for r in rows.values() if r.status == TaskStatus.SUCCESS]
    assert failed and succeeded, body["progress"]
    for row in failed:
        assert "No space left on device" in str(row.error_message), row.error_message
    # What was written is whole, one file per SUCCESS row, and no temp file is left behind.
    results = system.shared_root / f"jobs/{job_id}/results"
    written = {p.name: p.read_bytes() for p in results.iterdir()}
    assert sorted(written) == sorted(f"{r.task_id}.json" for r in succeeded), sorted(written)
    for data in written.values():
        json.loads(data)
